import TensorCore

/// Writes torch_dist data files and `.metadata` from a `TorchDistWritePlan`.
///
/// Every item's place is computed first (`layout`): per file, byte items back to back, then each tensor
/// chunk as a standalone torch.save archive (folder `archive`, tensor shape = chunk sizes including leading
/// 1s, row-major strides), packed with no padding between items like torch's `_write_item`. Then all tensor
/// payloads are written in parallel by positional writes (CRC computed on the way), then the zip
/// headers, then `.metadata`, which is written last so a folder without it is visibly unfinished.
/// Because the layout is computed before any byte moves, a subset of the data files can be written on its
/// own (one node of a split conversion) with the same bytes the whole run would write.
public enum TorchDistWriter {
    /// One planned item of a data file.
    struct PlacedChunk {
        var chunk: TorchDistWritePlan.TensorChunk
        var save: TorchSavePlan
        var offset: Int
    }

    /// One planned data file: its size, its byte items and its tensor chunks at their offsets.
    struct PlacedFile {
        var name: String
        var size: Int
        var bytes: [(Int, [UInt8])]
        var chunks: [PlacedChunk]
    }

    /// Where every byte of a torch_dist folder goes, and the `.metadata` that describes it.
    public struct Layout {
        var files: [PlacedFile]
        public let metadata: DCPMetadata

        /// The data files with their sizes, in plan order.
        public var dataFiles: [(name: String, size: Int)] { files.map { ($0.name, $0.size) } }
    }

    /// Places every item of `plan` (validating it first). Reads no tensor data.
    public static func layout(_ plan: TorchDistWritePlan) throws -> Layout {
        let entries = try plan.validate()
        var storage = [(index: DCPMetadata.StorageIndex, info: DCPMetadata.StorageInfo)]()
        var seen = Set<DCPMetadata.StorageIndex>()
        var files = [PlacedFile]()
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
            files.append(PlacedFile(name: f.name, size: cursor, bytes: smallWrites, chunks: placed))
        }
        return Layout(files: files, metadata: DCPMetadata(entries: entries, storage: storage))
    }

    /// Writes the data files of `layout` named in `only` (all when nil) into `directory` (which must exist).
    public static func writeDataFiles(_ layout: Layout, only: Set<String>? = nil, into directory: String,
                                      executor: WriteExecutor = WriteExecutor()) throws {
        var outputs = [(file: OutputFile, placed: PlacedFile)]()
        for f in layout.files where only?.contains(f.name) ?? true {
            let path = FileSystem.join(directory, f.name)
            do { outputs.append((try OutputFile(creating: path, size: f.size), f)) } catch { throw TorchFormatsError.wrap(error, file: path) }
            executor.digests?.follow(outputs[outputs.count - 1].file)
        }
        // Payloads of every chunk of every file in one parallel run. Each chunk's zip headers are written
        // as soon as its payloads are (they need the payload CRCs), so every file fills front to back.
        var tasks = [TensorWriteTask]()
        var chunkOfTask = [(output: Int, chunk: Int)]()
        var chunkTasks = [[Range<Int>]]()
        for (oi, o) in outputs.enumerated() {
            var ranges = [Range<Int>]()
            for (ci, p) in o.placed.chunks.enumerated() {
                let t = p.save.writeTasks(file: o.file, at: p.offset, label: p.chunk.key)
                ranges.append(tasks.count..<(tasks.count + t.count))
                tasks.append(contentsOf: t)
                chunkOfTask += Array(repeating: (oi, ci), count: t.count)
            }
            chunkTasks.append(ranges)
        }
        var crcs = [UInt32](repeating: 0, count: tasks.count)
        var left = chunkTasks.map { $0.map(\.count) }
        do {
            // The byte items need no CRC, and an archive without payloads (none is planned today) none
            // either: both are written before the payloads.
            for (oi, o) in outputs.enumerated() {
                for (offset, bytes) in o.placed.bytes { try o.file.write(bytes, at: offset) }
                for (ci, p) in o.placed.chunks.enumerated() where chunkTasks[oi][ci].isEmpty {
                    try p.save.finalize(file: o.file, at: p.offset, payloadCRCs: [])
                }
            }
            try executor.run(tasks) { ti, crc in
                // Called one task at a time, so the bookkeeping needs no lock of its own.
                crcs[ti] = crc
                let (oi, ci) = chunkOfTask[ti]
                left[oi][ci] -= 1
                if left[oi][ci] == 0 {
                    let p = outputs[oi].placed.chunks[ci]
                    try p.save.finalize(file: outputs[oi].file, at: p.offset, payloadCRCs: Array(crcs[chunkTasks[oi][ci]]))
                }
            }
            for o in outputs { try o.file.sync() }
        } catch {
            throw TorchFormatsError.wrap(error, file: directory)
        }
    }

    /// Writes `.metadata` of `layout` into `directory`.
    public static func writeMetadata(_ layout: Layout, into directory: String) throws {
        let path = FileSystem.join(directory, TorchDistCheckpoint.metadataFileName)
        do { try writeWholeFile(path, try layout.metadata.serialized()) } catch { throw TorchFormatsError.wrap(error, file: path) }
    }

    /// Writes the data files and `.metadata` into `directory` (which must exist). Returns the metadata written.
    @discardableResult
    public static func write(_ plan: TorchDistWritePlan, into directory: String,
                             executor: WriteExecutor = WriteExecutor()) throws -> DCPMetadata {
        let l = try layout(plan)
        try writeDataFiles(l, into: directory, executor: executor)
        try writeMetadata(l, into: directory)
        return l.metadata
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
