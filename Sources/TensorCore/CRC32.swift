import CCRC32

/// CRC-32 (IEEE 802.3, the zip polynomial). Zip entries need it and it runs over every byte written to a
/// torch.save archive, so it folds with carry-less multiplication where the CPU has it (`CCRC32`), and
/// falls back to slicing-by-8 tables elsewhere.
public struct CRC32 {
    private static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()
    private static let flat: [UInt32] = tables.flatMap { $0 }

    public private(set) var value: UInt32 = 0
    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return }
        var handled: Int32 = 0
        let folded = ccrc32_update(state, start.assumingMemoryBound(to: UInt8.self), bytes.count, &handled)
        if handled != 0 {
            state = folded
            value = folded ^ 0xFFFF_FFFF
            return
        }
        updateWithTables(bytes)
    }

    /// The table-driven path (no carry-less multiply on this CPU).
    mutating func updateWithTables(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var n = bytes.count
        var c = state
        Self.flat.withUnsafeBufferPointer { t in
            while n >= 8 {
                let lo = p.loadUnaligned(as: UInt32.self).littleEndian ^ c
                let hi = (p + 4).loadUnaligned(as: UInt32.self).littleEndian
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8
                n -= 8
            }
            while n > 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1
                n -= 1
            }
        }
        state = c
        value = c ^ 0xFFFF_FFFF
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The CRC-32 of A followed by B, from the CRC of A, the CRC of B and B's length: what lets one large
    /// zip payload be written in parallel slabs, each with its own CRC, and still get the CRC of the whole.
    ///
    /// Why it works: without the pre- and post-conditioning, a CRC is the message polynomial times x^32
    /// mod P, and appending B multiplies A's part by x^(8·|B|). The conditioning terms of the two CRCs
    /// cancel in the xor, so crc(AB) = crc(A)·x^(8·|B|) mod P xor crc(B), computed here by square-and-multiply
    /// over the bits of |B| (about 64 multiplications modulo P).
    public static func combine(_ crcA: UInt32, _ crcB: UInt32, lengthOfB n: Int) -> UInt32 {
        if n <= 0 { return crcA }
        var power: UInt32 = 0x8000_0000          // x^0 (bit 31 is the lowest power in the reflected form)
        var base: UInt32 = 0x0080_0000           // x^8: one byte
        var k = n
        while k > 0 {
            if k & 1 != 0 { power = multiplyModP(power, base) }
            base = multiplyModP(base, base)
            k >>= 1
        }
        return multiplyModP(power, crcA) ^ crcB
    }

    /// a·b mod P with both in the reflected form (bit 31 is x^0): b is multiplied by x once per bit of a.
    static func multiplyModP(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var product: UInt32 = 0
        var b = b
        var bit: UInt32 = 0x8000_0000
        while bit != 0 {
            if a & bit != 0 { product ^= b }
            b = (b & 1) != 0 ? (b >> 1) ^ 0xEDB8_8320 : b >> 1
            bit >>= 1
        }
        return product
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c = CRC32()
        c.update(bytes)
        return c.value
    }
}
