import TensorCore

/// A torch.save archive planned for streaming: its total size and every offset are known before any
/// byte is written. Tensor payloads are written by `WriteExecutor` tasks straight from their sources
/// (each byte copied once, CRC computed on the way); `finalize` then writes data.pkl, the small records
/// and all zip headers, which need those CRCs. The archive may sit at any offset of a larger file, so a
/// DCP writer can place many archives in one `.distcp` file.
public struct TorchSavePlan {
    public let pickle: [UInt8]
    public let layout: TorchZipLayout
    /// Tensor payloads in storage-key order (`data/0`, `data/1`, …).
    public let payloads: [TorchTensorPayload]

    static let byteorder = Array("little".utf8)
    static let version = Array("3\n".utf8)

    /// The archive's size in bytes.
    public var totalLength: Int { layout.totalLength }
    public var archiveName: String { layout.archiveName }

    /// Record index of payload `i` in the layout (after data.pkl and byteorder).
    private func recordIndex(ofPayload i: Int) -> Int { 2 + i }

    /// One task per tensor payload, writing at `base` + its planned offset. Run them with
    /// `WriteExecutor.run` and pass the returned CRCs, in the same order, to `finalize`.
    public func writeTasks(file: OutputFile, at base: Int, label: String = "") -> [TensorWriteTask] {
        payloads.enumerated().map { i, p in
            TensorWriteTask(file: file, offset: base + layout.records[recordIndex(ofPayload: i)].payloadOffset, source: p.source,
                            box: p.box, dtype: p.dtype, wantsCRC: true,
                            label: label.isEmpty ? "\(archiveName)/data/\(i)" : label)
        }
    }

    /// Everything that is not a tensor payload, as contiguous byte runs with offsets relative to the
    /// archive start (adjacent pieces merged, so an archive needs only a few positional writes).
    public func headerSegments(payloadCRCs: [UInt32]) throws -> [(offset: Int, bytes: [UInt8])] {
        guard payloadCRCs.count == payloads.count else {
            throw TorchFormatsError(.invalidPlan, "\(payloadCRCs.count) CRCs for \(payloads.count) tensor payloads")
        }
        let crcs = [CRC32.checksum(pickle), CRC32.checksum(Self.byteorder)] + payloadCRCs + [CRC32.checksum(Self.version)]
        var pieces = layout.headerWrites(crcs: crcs)
        pieces.append((layout.records[0].payloadOffset, pickle))
        pieces.append((layout.records[1].payloadOffset, Self.byteorder))
        pieces.append((layout.records[layout.records.count - 1].payloadOffset, Self.version))
        pieces.sort { $0.offset < $1.offset }
        var merged = [(offset: Int, bytes: [UInt8])]()
        for p in pieces {
            if let last = merged.last, last.offset + last.bytes.count == p.offset {
                merged[merged.count - 1].bytes.append(contentsOf: p.bytes)
            } else {
                merged.append(p)
            }
        }
        return merged
    }

    /// Writes data.pkl, byteorder, version and every zip header, once the payload CRCs are known.
    public func finalize(file: OutputFile, at base: Int, payloadCRCs: [UInt32]) throws {
        for s in try headerSegments(payloadCRCs: payloadCRCs) {
            try file.write(s.bytes, at: base + s.offset)
        }
    }

    /// Writes the whole archive at `base` of `file` (payloads through `executor`).
    public func write(to file: OutputFile, at base: Int = 0, executor: WriteExecutor) throws {
        let crcs = try executor.run(writeTasks(file: file, at: base))
        try finalize(file: file, at: base, payloadCRCs: crcs)
    }

    /// The whole archive as bytes (small archives only: every payload is copied into the result).
    public func serialize() throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: totalLength)
        var crcs = [UInt32]()
        try out.withUnsafeMutableBytes { buf in
            for (i, p) in payloads.enumerated() where p.byteCount > 0 {
                let at = layout.records[recordIndex(ofPayload: i)].payloadOffset
                try p.source.read(p.box, as: p.dtype, into: buf.baseAddress! + at)
                var c = CRC32()
                c.update(UnsafeRawBufferPointer(rebasing: buf[at..<(at + p.byteCount)]))
                crcs.append(c.value)
            }
        }
        // Empty payloads have CRC 0; they were skipped above, so rebuild the list in order.
        var full = [UInt32]()
        var k = 0
        for p in payloads {
            if p.byteCount > 0 { full.append(crcs[k]); k += 1 } else { full.append(0) }
        }
        for s in try headerSegments(payloadCRCs: full) {
            out.replaceSubrange(s.offset..<(s.offset + s.bytes.count), with: s.bytes)
        }
        return out
    }
}
