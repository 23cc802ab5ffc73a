import CSHA256

/// SHA-256, the digest of megatron-core's `integrity.json` manifests. Runs on the x86 SHA extensions where the
/// CPU has them (`CSHA256`), a plain C compression function elsewhere.
public struct SHA256 {
    private var context = csha256_ctx()

    /// `portable` forces the plain C path (tests compare it with the accelerated one).
    public init(portable: Bool = false) { csha256_init(&context, portable ? 1 : 0) }

    /// Whether this CPU runs the SHA-extension path.
    public static var isAccelerated: Bool { csha256_accelerated() != 0 }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        csha256_update(&context, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The 32-byte digest. The value is spent afterwards (start a new one for more input).
    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBufferPointer { csha256_final(&context, $0.baseAddress!) }
        return out
    }

    /// The digest as 64 lowercase hex digits, as Python's `hashlib.sha256().hexdigest()` writes it.
    public mutating func hexDigest() -> String { Self.hex(finalize()) }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8]()
        s.reserveCapacity(bytes.count * 2)
        for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }

    public static func hexDigest(_ bytes: [UInt8]) -> String {
        var h = SHA256()
        h.update(bytes)
        return h.hexDigest()
    }

    /// The hex digest of a whole file, read with positional reads through a 1 MB buffer (bounded memory,
    /// and no faulting-in of mapped pages).
    public static func hexDigest(ofFile path: String) throws -> String {
        let file = try MappedFile(path: path)
        var h = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        try h.update(reading: file, range: 0..<file.size, through: buffer)
        return h.hexDigest()
    }

    /// Feeds the bytes `range` of `file`, read with positional reads through `buffer`.
    public mutating func update(reading file: MappedFile, range: Range<Int>, through buffer: UnsafeMutableRawBufferPointer) throws {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let n = Swift.min(buffer.count, range.upperBound - offset)
            try file.read(into: buffer.baseAddress!, at: offset, count: n)
            update(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n))
            offset += n
        }
    }
}
