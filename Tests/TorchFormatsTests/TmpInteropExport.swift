import Foundation
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

// TEMPORARY: writes checkpoints for a manual check with real torch; removed before hand-off.
@Suite struct TmpInteropExport {
    @Test func export() throws {
        guard let out = ProcessInfo.processInfo.environment["TF_INTEROP_OUT"] else { return }
        FileSystem.remove(out)
        try FileSystem.makeDirectory(out)
        for c in FixtureCatalog.all {
            let ckpt = try TorchDistCheckpoint(path: try Fixtures.path(c.path))
            let dir = FileSystem.join(out, c.path.replacingOccurrences(of: "/", with: "__"), "iter_0000000")
            try FileSystem.makeDirectory(dir)
            try TorchDistWriter.writeFolder(try TorchDistWriteTests.samePlan(ckpt), into: dir, commonState: try ckpt.commonState)
            try MegatronCheckpointRoot.writeTracker(root: FileSystem.dirname(dir), iteration: .number(0))
        }
        // A torch.save file with every dtype and a legacy rank file.
        var items = [(String, PickleValue)]()
        for d in TorchSaveTests.dtypes {
            items.append((d.rawValue, .tensorPayload(try TorchTensorPayload(source: ArrayTensor.pattern(d, [3, 5], seed: 3)))))
        }
        items.append(("scalar", .tensorPayload(try TorchTensorPayload(source: ArrayTensor.pattern(.i64, [])))))
        items.append(("empty", .tensorPayload(try TorchTensorPayload(source: ArrayTensor.pattern(.f32, [0, 3])))))
        items.append(("misc", .list([.none, .bool(true), .int(1 << 40), .int(-7), .float(2.5), .string("é"), .bytes([0, 255]),
                                     .tuple([.int(1)]), .dict([(.int(1), .string("x"))]), .set([.int(3)], frozen: false)])))
        let plan = try TorchSaveWriter.plan(.stringDict(items), archiveName: "alltypes")
        let f = try OutputFile(creating: FileSystem.join(out, "alltypes.pt"), size: plan.totalLength)
        try plan.write(to: f, executor: WriteExecutor())
        for d in TorchSaveTests.dtypes {
            try writeWholeFile(FileSystem.join(out, "raw_\(d.rawValue).bin"), ArrayTensor.pattern(d, [3, 5], seed: 3).bytes)
        }
        let legacyDir = FileSystem.join(out, "legacy", "iter_0000003", "mp_rank_00")
        try FileSystem.makeDirectory(legacyDir)
        let w = ArrayTensor.pattern(.bf16, [4, 8])
        let root = LegacyMegatronWriter.rankState(
            args: .namespace([("num_layers", .int(1)), ("hidden_size", .int(8)), ("num_attention_heads", .int(2)),
                              ("tensor_model_parallel_size", .int(1)), ("pipeline_model_parallel_size", .int(1))]),
            iteration: 3, model: [("decoder.layers.0.mlp.linear_fc1.weight", .tensorPayload(try TorchTensorPayload(source: w))),
                                  ("decoder.layers.0.mlp.linear_fc1._extra_state", .none)])
        try LegacyMegatronWriter.writeRankFile(root, to: FileSystem.join(legacyDir, "model_optim_rng.pt"))
        try writeWholeFile(FileSystem.join(out, "legacy_w.bin"), w.bytes)
    }
}
@Suite struct TmpInteropImport {
    @Test func readLinear() throws {
        guard FileSystem.isFile("/tmp/linear_sd.pt") else { return }
        let f = try TorchSaveFile(path: "/tmp/linear_sd.pt", verifyCRC: true)
        let sd = try f.stateDict(at: ["model"])
        print("LINEAR", sd.order, f.root["model"]?.objectValue?.state as Any)
    }
}
@Suite struct TmpZip64Export {
    @Test func export() throws {
        guard let out = ProcessInfo.processInfo.environment["TF_ZIP64_OUT"] else { return }
        let n = 0x1_0000_0040
        let zeros = ComposedTensor(dtype: .u8, shape: [n], parts: [.zeros(Box(shape: [n]))])
        let small = ArrayTensor.pattern(.f32, [3, 3], seed: 5)
        let root = PickleValue.stringDict([("big", .tensorPayload(try TorchTensorPayload(source: zeros))),
                                           ("small", .tensorPayload(try TorchTensorPayload(source: small)))])
        let t0 = Date()
        let plan = try TorchSaveWriter.plan(root, archiveName: "huge")
        let f = try OutputFile(creating: out, size: plan.totalLength)
        try plan.write(to: f, executor: WriteExecutor(jobs: 2, budget: 64 << 20))
        try writeWholeFile(out + ".small.bin", small.bytes)
        let back = try TorchSaveFile(path: out)
        #expect(back.zip.entries.map(\.size) == [back.zip.entries[0].size, 6, n, 36, 2])
        #expect(try back.stateDict().tensors["small"]!.readBytes() == small.bytes)
        print("ZIP64 wrote \(plan.totalLength) bytes in \(Date().timeIntervalSince(t0)) s")
    }
}
