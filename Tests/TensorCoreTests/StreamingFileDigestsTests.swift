import Foundation
import Testing
import TensorCore
import TestSupport

/// Files hashed while they are written (integrity.json's digests) equal Python's hashlib on the same bytes,
/// whatever the order of the writes, and files with never-written holes hash as the bytes they hold.
@Suite struct StreamingFileDigestsTests {
    /// Runs `body` with the path of a file in a fresh temporary folder, removed afterwards.
    func withTemporaryFile(_ body: (String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("digests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir + "/file.bin")
    }

    @Test func outOfOrderWritesFromTwoThreadsGiveHashlibsDigest() throws {
        let v = try #require(try SHA256Tests.vectors().max { $0.length < $1.length })
        let message = SHA256Tests.message(v.length)
        try withTemporaryFile { path in
            let digests = StreamingFileDigests()
            let file = try OutputFile(creating: path, size: message.count)
            digests.follow(file)
            // Pieces of uneven sizes, written in a shuffled order by two threads.
            var pieces = [Range<Int>]()
            var at = 0, step = 1
            while at < message.count { let n = min(step, message.count - at); pieces.append(at..<(at + n)); at += n; step = step * 7 % 1999 + 1 }
            var g = SeededGenerator(seed: 7)
            pieces.shuffle(using: &g)
            let half = pieces.count / 2
            let parts = [Array(pieces[..<half]), Array(pieces[half...])]
            DispatchQueue.concurrentPerform(iterations: 2) { k in
                for r in parts[k] { try! file.write(Array(message[r]), at: r.lowerBound) }
            }
            let result = try digests.finish()
            #expect(result[path]?.digest == v.digest)
            #expect(result[path]?.size == message.count)
        }
    }

    @Test func unwrittenHolesHashAsTheFileHoldsThem() throws {
        try withTemporaryFile { path in
            let digests = StreamingFileDigests()
            let file = try OutputFile(creating: path, size: 3 << 20)
            digests.follow(file)
            try file.write([UInt8](repeating: 0xAB, count: 1000), at: 1 << 20)
            let result = try digests.finish()
            #expect(result[path]?.digest == (try SHA256.hexDigest(ofFile: path)))
        }
    }

    @Test func cancelStopsWithoutWaitingForWrites() throws {
        try withTemporaryFile { path in
            let digests = StreamingFileDigests()
            let file = try OutputFile(creating: path, size: 1 << 20)
            digests.follow(file)
            try file.write([1, 2, 3], at: 0)
            digests.cancel()   // returns although most of the file was never written
        }
    }
}
