import Testing
import TensorCore
import TestSupport

/// SHA-256 against Python's hashlib (`Fixtures/sha256/vectors.json`, made by
/// `scripts/oracle/make_sha256_vectors.py`): both compression paths, whole and fed in uneven pieces, and the
/// file digest.
@Suite struct SHA256Tests {
    struct Vector { var length: Int; var digest: String }

    static func vectors() throws -> [Vector] {
        let json = try JSONParser.parse(readWholeFile(try Fixtures.path("sha256/vectors.json")))
        return try #require(json["vectors"]?.arrayValue).map {
            Vector(length: $0["length"]!.intValue!, digest: $0["sha256"]!.stringValue!)
        }
    }

    /// The message rule of the generator script.
    static func message(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(($0 * 131 + n * 7 + ($0 >> 8)) % 256) } }

    @Test func matchesHashlib() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count > 200)
        for v in vectors {
            let m = Self.message(v.length)
            for portable in [false, true] {
                var h = SHA256(portable: portable)
                h.update(m)
                #expect(h.hexDigest() == v.digest, "length \(v.length) portable \(portable)")
            }
        }
    }

    @Test func piecesEqualWhole() throws {
        let v = try #require(try Self.vectors().first { $0.length == 65539 })
        let m = Self.message(v.length)
        for step in [1, 3, 63, 64, 65, 1000] {
            var h = SHA256()
            var i = 0
            while i < m.count { h.update(Array(m[i..<min(i + step, m.count)])); i += step }
            #expect(h.hexDigest() == v.digest, "step \(step)")
        }
    }

    @Test func fileDigest() throws {
        let v = try #require(try Self.vectors().first { $0.length == (1 << 20) + 17 })
        let dir = Fixtures.scratch("sha256")
        defer { FileSystem.remove(dir) }
        let path = FileSystem.join(dir, "m.bin")
        try writeWholeFile(path, Self.message(v.length))
        #expect(try SHA256.hexDigest(ofFile: path) == v.digest)
    }
}
