import TensorCore

/// Writes torch_dist data files and `.metadata` from a `TorchDistWritePlan`.
///
/// Every item's place is computed first: per file, byte items back to back, then each tensor chunk as a
/// standalone torch.save archive (folder `archive`, tensor shape = chunk sizes including leading 1s,
/// row-major strides), packed with no padding between items like torch's `_write_item`. Then all tensor
/// payloads are written in parallel by positional writes (CRC computed on the way), then the zip
/// headers, then `.metadata`, which is written last so a folder without it is visibly unfinished.
public enum TorchDistWriter {
    /// One planned item of a data file.
    struct PlacedChunk {
        var chunk: TorchDistWritePlan.TensorChunk
        var save: TorchSavePlan
        var offset: Int
    }

    /// Writes the data files and `.metadata` into `directory` (which must exist). Returns the metadata written.
    @discardableResult
    public static func write(_ plan: TorchDistWritePlan, into directory: String,
                             executor: WriteExecutor = WriteExecutor()) throws -> DCPMetadata {
        let entries = try plan.validate()
        var storage = [(index: DCPMetadata.StorageIndex, info: DCPMetadata.StorageInfo)]()
        var seen = Set<DCPMetadata.StorageIndex>()
        var outputs = [(file: OutputFile, bytes: [(Int, [UInt8])], chunks: [PlacedChunk])]()
        for f in plan.files {
            var cursor = 0
            var smallWrites = [(Int, [UInt8])]()
            for b in f.bytesItems {
                storage.append((DCPMetadata.StorageIndex(fqn: b.key),
                                DCPMetadata.StorageInfo(relativePath: f.name, offset: cursor, length: b.payload.count)))
                smallWrites.append((cursor, b.payload))
                cursor += b.payload.count
            }
            var placed = [PlacedChunk]()
            for c in f.tensorChunks {
                let index = DCPMetadata.StorageIndex(fqn: c.key, offset: c.offsets)
                guard seen.insert(index).inserted else {
                    throw TorchFormatsError(.invalidPlan, "two chunks start at \(Shape.describe(c.offsets))", key: c.key)
                }
                let payload = try TorchTensorPayload(source: c.source, box: c.sourceBox, dtype: c.dtype, shape: c.sizes)
                let save = try TorchSaveWriter.plan(.tensorPayload(payload), archiveName: "archive")
                storage.append((index, DCPMetadata.StorageInfo(relativePath: f.name, offset: cursor, length: save.totalLength)))
                placed.append(PlacedChunk(chunk: c, save: save, offset: cursor))
                cursor += save.totalLength
            }
            let path = FileSystem.join(directory, f.name)
            let out: OutputFile
            do { out = try OutputFile(creating: path, size: cursor) } catch { throw TorchFormatsError.wrap(error, file: path) }
            outputs.append((out, smallWrites, placed))
        }
        // Payloads of every chunk of every file in one parallel run.
        var tasks = [TensorWriteTask]()
        var taskRanges = [[Range<Int>]]()
        for o in outputs {
            var ranges = [Range<Int>]()
            for p in o.chunks {
                let t = p.save.writeTasks(file: o.file, at: p.offset, label: p.chunk.key)
                ranges.append(tasks.count..<(tasks.count + t.count))
                tasks.append(contentsOf: t)
            }
            taskRanges.append(ranges)
        }
        let crcs: [UInt32]
        do { crcs = try executor.run(tasks) } catch { throw TorchFormatsError.wrap(error, file: directory) }
        do {
            for (o, ranges) in zip(outputs, taskRanges) {
                for (offset, bytes) in o.bytes { try o.file.write(bytes, at: offset) }
                for (p, r) in zip(o.chunks, ranges) {
                    try p.save.finalize(file: o.file, at: p.offset, payloadCRCs: Array(crcs[r]))
                }
                try o.file.sync()
            }
        } catch {
            throw TorchFormatsError.wrap(error, file: directory)
        }
        let metadata = DCPMetadata(entries: entries, storage: storage)
        let path = FileSystem.join(directory, TorchDistCheckpoint.metadataFileName)
        do { try writeWholeFile(path, try metadata.serialized()) } catch { throw TorchFormatsError.wrap(error, file: path) }
        return metadata
    }

    /// Writes a complete iteration folder into `directory` (which must exist): `metadata.json`,
    /// `common.pt` (when `commonState` is given), the data files and `.metadata`.
    @discardableResult
    public static func writeFolder(_ plan: TorchDistWritePlan, into directory: String, commonState: PickleValue?,
                                   metadataJSON: JSONValue = MegatronFiles.defaultMetadataJSON,
                                   executor: WriteExecutor = WriteExecutor()) throws -> DCPMetadata {
        try MegatronFiles.writeMetadataJSON(metadataJSON, directory: directory)
        if let commonState { try MegatronFiles.writeCommonPT(commonState, directory: directory) }
        return try write(plan, into: directory, executor: executor)
    }
}
