import Testing
@testable import TensorCore

/// The folded CRC-32 equals the table-driven one and the known check value, for every length and alignment
/// around the 16- and 64-byte block edges, and when fed in pieces.
@Suite struct CRC32Tests {
    @Test func checkValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)   // the standard CRC-32 check value
        #expect(CRC32.checksum([]) == 0)
    }

    @Test func foldedEqualsTables() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for length in Array(0..<200) + [255, 256, 1023, 1024, 4096, 4999] {
            for offset in [0, 1, 7] where offset + length <= data.count {
                let slice = Array(data[offset..<(offset + length)])
                var fast = CRC32(), slow = CRC32()
                slice.withUnsafeBytes { fast.update($0); slow.updateWithTables($0) }
                #expect(fast.value == slow.value, "length \(length) offset \(offset)")
            }
        }
        var pieces = CRC32()
        for chunk in stride(from: 0, to: data.count, by: 333) { pieces.update(Array(data[chunk..<min(chunk + 333, data.count)])) }
        #expect(pieces.value == CRC32.checksum(data))
    }

    /// Combining the CRCs of two parts gives the CRC of the whole, at every split of buffers up to a few
    /// thousand bytes (empty parts included): the executor writes a zip payload in slabs this way.
    @Test func combineEqualsWhole() {
        var rng = SystemRandomNumberGenerator()
        for total in [0, 1, 2, 17, 64, 100, 1000, 4097] {
            let data = (0..<total).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for split in Set([0, total / 3, total / 2, total]) {
                let a = CRC32.checksum(Array(data[..<split])), b = CRC32.checksum(Array(data[split...]))
                #expect(CRC32.combine(a, b, lengthOfB: total - split) == CRC32.checksum(data), "total \(total) split \(split)")
            }
        }
        // Many slabs folded left to right, as the executor does.
        let data = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var crc: UInt32 = 0
        for start in stride(from: 0, to: data.count, by: 777) {
            let piece = Array(data[start..<min(start + 777, data.count)])
            crc = CRC32.combine(crc, CRC32.checksum(piece), lengthOfB: piece.count)
        }
        #expect(crc == CRC32.checksum(data))
    }
}
