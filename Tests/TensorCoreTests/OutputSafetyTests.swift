import Foundation
import Testing
@testable import TensorCore

/// The output folder's guarantees: never onto, into or around an input; --overwrite replaces only what it
/// recognises; partial folders of dead runs are removed by the next run; errno-specific hints.
@Suite struct OutputSafetyTests {
    func scratch() throws -> String {
        let d = FileSystem.join(NSTemporaryDirectory(), "out-safety-\(UInt32.random(in: 0...UInt32.max))")
        try FileSystem.makeDirectory(d)
        return d
    }

    @Test func outputsOntoIntoOrAroundTheInputAreRefused() throws {
        let root = try scratch()
        defer { FileSystem.remove(root) }
        let input = FileSystem.join(root, "in")
        try FileSystem.makeDirectory(input)
        let link = FileSystem.join(root, "link")
        _ = symlink(input, link)
        for (out, what) in [(input, "is the input"), (FileSystem.join(input, "sub/out"), "inside"), (root, "contains"), (link, "is the input")] {
            #expect {
                _ = try AtomicOutputDirectory(finalPath: out, overwrite: true, inputs: [input])
            } throws: { e in (e as? TensorCoreError)?.summary.contains(what) == true }
        }
        #expect(try FileSystem.list(root) == ["in", "link"])
    }

    @Test func overwriteReplacesOnlyWhatItRecognises() throws {
        let root = try scratch()
        defer { FileSystem.remove(root) }
        let plain = FileSystem.join(root, "plain.txt")
        try writeWholeFile(plain, Array("keep me".utf8))
        let kind = AtomicOutputDirectory.Replaceable.folder("a marked folder", holdingAnyOf: ["MARK"])
        #expect(throws: TensorCoreError.self) { _ = try AtomicOutputDirectory(finalPath: plain, overwrite: true, replaceable: kind) }
        let other = FileSystem.join(root, "other")
        try FileSystem.makeDirectory(other)
        #expect(throws: TensorCoreError.self) { _ = try AtomicOutputDirectory(finalPath: other, overwrite: true, replaceable: kind) }
        try writeWholeFile(FileSystem.join(other, "MARK"), [])
        let out = try AtomicOutputDirectory(finalPath: other, overwrite: true, replaceable: kind)
        try out.commit()
        #expect(try FileSystem.list(other).isEmpty)
        #expect(try readWholeFile(plain) == Array("keep me".utf8))
    }

    @Test func partialsOfDeadRunsAreRemovedByTheNextRun() throws {
        let root = try scratch()
        defer { FileSystem.remove(root) }
        // A pid far above pid_max is never alive; our own pid always is.
        let dead = FileSystem.join(root, ".out.partial-2147483646-7"), alive = FileSystem.join(root, ".out.partial-\(getpid())-8")
        let otherOutput = FileSystem.join(root, ".other.partial-2147483646-9")
        for d in [dead, alive, otherOutput] { try FileSystem.makeDirectory(d) }
        #expect(Set(AtomicOutputDirectory.stalePartials(in: root)) == [dead, otherOutput])
        let out = try AtomicOutputDirectory(finalPath: FileSystem.join(root, "out"), overwrite: false)
        try out.commit()
        #expect(!FileSystem.exists(dead) && FileSystem.exists(alive) && FileSystem.exists(otherOutput))
    }

    @Test func errnoGivesTheCallAndAHintByCause() {
        let full = TensorCoreError.systemCall("pwrite", "write failed", file: "/x", errno: ENOSPC)
        let eio = TensorCoreError.systemCall("pwrite", "write failed", file: "/x", errno: EIO)
        let acc = TensorCoreError.systemCall("open", "cannot create file", file: "/x", errno: EACCES)
        #expect(full.summary.contains("pwrite() failed with ENOSPC"))
        #expect(eio.summary.contains("EIO") && acc.summary.contains("EACCES"))
        #expect(Set([full.hint, eio.hint, acc.hint].compactMap { $0 }).count == 3)
    }

    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let root = try scratch()
        defer { FileSystem.remove(root) }
        let fifo = FileSystem.join(root, "model.safetensors")
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect { _ = try MappedFile(path: fifo) } throws: { e in (e as? TensorCoreError)?.summary.contains("FIFO") == true }
    }
}
