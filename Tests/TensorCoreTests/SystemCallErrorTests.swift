#if canImport(Glibc)
import Glibc
#endif
import Testing
import TensorCore

/// The errno → name and hint mapping of I/O errors: a full disk, a failing disk and a permission problem
/// each get their own hint, and real failing system calls carry them.
@Suite struct SystemCallErrorTests {
    @Test func fullFailingAndForbiddenDisksReadDifferently() throws {
        let codes: [Int32] = [ENOSPC, EDQUOT, EFBIG, EIO, EACCES, EROFS, EMFILE, ENOMEM]
        let hints = try codes.map { try #require(TensorCoreError.errnoHint($0), "no hint for \(TensorCoreError.errnoName($0))") }
        #expect(Set(hints).count == hints.count, "two causes share a hint")
        #expect(hints[0].contains("disk is full"))
        #expect(hints[3].contains("I/O error") && hints[3].contains("dmesg"))
        #expect(hints[4].contains("permission"))
        #expect(TensorCoreError.errnoHint(EPERM) == TensorCoreError.errnoHint(EACCES))
        #expect(TensorCoreError.errnoHint(EAGAIN) == nil)
    }

    @Test func namesAreTheSymbolicOnes() {
        for (code, name) in [(ENOSPC, "ENOSPC"), (EIO, "EIO"), (EACCES, "EACCES"), (EDQUOT, "EDQUOT"), (EROFS, "EROFS"), (ENOENT, "ENOENT")] {
            #expect(TensorCoreError.errnoName(code) == name)
            let e = TensorCoreError.systemCall("pwrite", "write failed", file: "/x", errno: code)
            #expect(e.summary.hasPrefix("write failed: pwrite() failed with \(name) ("))
            #expect(e.summary.contains(String(cString: strerror(code))))
            #expect(e.hint == TensorCoreError.errnoHint(code))
        }
        #expect(TensorCoreError.errnoName(EAGAIN) == "errno \(EAGAIN)")
    }

    /// The kernel's own ENOSPC: every write to /dev/full fails with it.
    @Test func writingToDevFullIsENOSPC() throws {
        let f = try OutputFile(creating: "/dev/full")
        do {
            try f.write([1, 2, 3], at: 0)
            Issue.record("a write to /dev/full succeeded")
        } catch let e as TensorCoreError {
            #expect(e.summary.contains("ENOSPC"))
            #expect(e.hint == TensorCoreError.errnoHint(ENOSPC))
            #expect(e.file == "/dev/full" && e.byteOffset == 0)
        }
    }

    @Test func missingFolderIsENOENT() {
        #expect(throws: TensorCoreError.self) { try OutputFile(creating: "/nonexistent-\(UInt32.random(in: 0...UInt32.max))/f") }
        do { _ = try OutputFile(creating: "/nonexistent-folder-for-test/f") } catch let e as TensorCoreError {
            #expect(e.summary.contains("ENOENT") && e.hint == TensorCoreError.errnoHint(ENOENT))
        } catch { Issue.record("unexpected \(error)") }
    }
}
