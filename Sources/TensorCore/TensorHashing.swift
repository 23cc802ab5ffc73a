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
        let shape = source.shape
        if shape.isEmpty {
            hasher.update(try source.readBytes())
            return hasher.digest
        }
        let rowBytes = total / Swift.max(1, shape[0])
        let rows = Swift.max(1, slabBytes / Swift.max(1, rowBytes))
        var buffer = [UInt8](repeating: 0, count: Swift.min(total, rows * rowBytes))
        var r = 0
        while r < shape[0] {
            let n = Swift.min(rows, shape[0] - r)
            let box = Box(shape: shape).narrowed(axis: 0, offset: r, size: n)
            try buffer.withUnsafeMutableBytes { b in
                try source.read(box, into: b.baseAddress!)
                hasher.update(UnsafeRawBufferPointer(start: b.baseAddress, count: n * rowBytes))
            }
            WriteExecutor.releaseMappedPages(try source.pieces(covering: box))
            r += n
        }
        return hasher.digest
    }
}
