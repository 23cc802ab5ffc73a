import ArgumentParser
import Testing
import TensorCore
import TestSupport
import SafeTensors
import Bridge
@testable import CkptBridgeCLI

/// Runs a parsed command and returns its exit status (0 when it returns normally).
func exitStatus(_ args: [String]) -> Int32 {
    do {
        var cmd = try CkptBridge.parseAsRoot(args)
        try cmd.run()
        return 0
    } catch let e as ExitCode {
        return e.rawValue
    } catch {
        return CkptBridge.exitCode(for: error).rawValue
    }
}

@Suite struct DiffCommandTests {
    @Test func identicalCheckpointsAreEqual() throws {
        let hf = try Fixtures.path("qwen3_vl_moe_tiny/hf")
        #expect(exitStatus(["diff", hf, hf]) == 0)
    }

    @Test func oneFlippedByteIsCaught() throws {
        let src = try Fixtures.path("qwen3_vl_dense_tiny/hf/model.safetensors")
        let dir = Fixtures.scratch("diff-flip")
        defer { FileSystem.remove(dir) }
        try FileSystem.makeDirectory(FileSystem.join(dir, "a"))
        try FileSystem.makeDirectory(FileSystem.join(dir, "b"))
        try FileSystem.copyFile(src, FileSystem.join(dir, "a/model.safetensors"))
        // Flip one bit in the middle of one tensor's data.
        let f = try SafeTensorsFile(path: src)
        let victim = f.header.entries.first { $0.name == "model.language_model.layers.2.mlp.up_proj.weight" }!
        var bytes = try readWholeFile(src)
        let at = f.fileOffset(of: victim) + victim.byteCount / 2 + 1
        bytes[at] ^= 0x01
        try writeWholeFile(FileSystem.join(dir, "b/model.safetensors"), bytes)

        #expect(exitStatus(["diff", FileSystem.join(dir, "a"), FileSystem.join(dir, "b")]) == 1)
        let report = try CheckpointDiff.compare(try TensorCatalog.open(FileSystem.join(dir, "a")),
                                                try TensorCatalog.open(FileSystem.join(dir, "b")))
        #expect(report.differing.map(\.name) == [victim.name])
        #expect(report.missing.isEmpty && report.extra.isEmpty)
    }

    @Test func missingAndExtraTensorsAreReported() throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"))
        let dir = Fixtures.scratch("diff-missing")
        defer { FileSystem.remove(dir) }
        let dropped = "model.visual.merger.norm.bias"
        let items = try src.names.filter { $0 != dropped }.map { SafeTensorsWriter.Item(name: $0, source: try src.tensor($0)) }
        try SafeTensorsWriter.save(items, to: FileSystem.join(dir, "b"))
        let report = try CheckpointDiff.compare(try TensorCatalog.open(src.directory), try TensorCatalog.open(FileSystem.join(dir, "b")))
        #expect(report.missing == [dropped])
        #expect(!report.isEqual)
        let reverse = try CheckpointDiff.compare(try TensorCatalog.open(FileSystem.join(dir, "b")), try TensorCatalog.open(src.directory))
        #expect(reverse.extra == [dropped])
    }

    @Test func badInputIsAnErrorWithStatus2() throws {
        #expect(exitStatus(["diff", "/nonexistent/a", "/nonexistent/b"]) == 2)
        let dir = Fixtures.scratch("diff-bad")
        defer { FileSystem.remove(dir) }
        try writeWholeFile(FileSystem.join(dir, "model.safetensors"), [1, 2, 3])
        #expect(exitStatus(["diff", dir, dir]) == 2)
    }
}

@Suite struct InspectCommandTests {
    @Test func inspectsAFixture() throws {
        #expect(exitStatus(["inspect", try Fixtures.path("qwen3_vl_moe_tiny/hf")]) == 0)
        #expect(exitStatus(["inspect", "--json", try Fixtures.path("qwen3_vl_moe_tiny/hf/model.safetensors")]) == 0)
        #expect(exitStatus(["inspect", "/nonexistent"]) == 2)
    }

    @Test func helpTeaches() {
        let help = CkptBridge.helpMessage(for: DiffCommand.self)
        #expect(help.contains("Exit status"))
        #expect(CkptBridge.helpMessage().contains("inspect"))
    }
}
