/// Content hashes of tensors, independent of where and how their bytes are stored: the XXH3-64 of the
/// row-major bytes. A safetensors tensor and the same tensor reassembled from torch_dist chunks hash the same.
public enum TensorHashing {
    /// XXH3-64 of `source`'s row-major bytes, streamed in slabs of at most `slabBytes`. Mapped file pages
    /// are read positionally or released after use, so hashing a large checkpoint keeps memory small.
    public static func xxh3(_ source: TensorSource, slabBytes: Int = 64 << 20) throws -> UInt64 {
        let hasher = XXH3Hasher()
        let total = source.byteCount
        if total == 0 { return hasher.digest }
        if let c = source as? ContiguousTensor {
            guard let file = c.owner as? MappedFile, let base = c.base, let offset = file.offset(of: base) else {
                hasher.update(c.rawBytes)
                return hasher.digest
            }
            var buffer = [UInt8](repeating: 0, count: Swift.min(total, 1 << 20))
            var done = 0
            while done < total {
                let n = Swift.min(buffer.count, total - done)
                try buffer.withUnsafeMutableBytes { b in
                    try file.read(into: b.baseAddress!, at: offset + done, count: n)
                    hasher.update(UnsafeRawBufferPointer(start: b.baseAddress, count: n))
                }
                done += n
            }
            return hasher.digest
        }
        guard let es = source.dtype.byteSize else {
            hasher.update(try source.readBytes())
            return hasher.digest
        }
        var buffer = [UInt8]()
        for slab in Box(shape: source.shape).slabs(maxBytes: slabBytes, elementSize: es) {
            let n = slab.elementCount * es
            if buffer.count < n { buffer = [UInt8](repeating: 0, count: n) }
            try buffer.withUnsafeMutableBytes { b in
                try source.read(slab, into: b.baseAddress!)
                hasher.update(UnsafeRawBufferPointer(start: b.baseAddress, count: n))
            }
            WriteExecutor.releaseMappedPages(try source.pieces(covering: slab))
        }
        return hasher.digest
    }
}
