import Foundation
import Bridge
import Forward
import ForwardCheckpoint
import SafeTensors
import Testing
import TensorCore
import TestSupport
import TorchFormats
@testable import CkptBridgeCLI

/// The forward pass through Megatron's own semantics on the checkpoints Megatron-Bridge wrote, and
/// `verify` on our conversions: it passes on faithful ones and fails on corrupted ones.
@Suite struct VerifyCommandTests {
    static let bridgeCheckpoints = [
        "qwen3_vl_dense_tiny/bridge_tp1_ep1", "qwen3_vl_dense_tiny/bridge_tp2_ep1", "qwen3_vl_moe_tiny/bridge_tp1_ep1",
        "qwen3_vl_moe_tiny/bridge_tp1_ep2", "qwen3_vl_dense_tiny/bridge06_tp1_ep1", "qwen3_vl_dense_tiny/bridge06_tp2_ep1",
        "qwen3_vl_moe_tiny/bridge06_tp1_ep1", "qwen3_vl_moe_tiny/bridge06_tp1_ep2",
    ]

    @Test(arguments: bridgeCheckpoints)
    func megatronBridgeCheckpointsMatchTransformersLogits(_ name: String) throws {
        let model = String(name.split(separator: "/")[0])
        let m = try ForwardModel.open(try Fixtures.path("\(name)/megatron"), hfConfig: nil)
        let reference = try SafeTensorsCheckpoint(path: try Fixtures.path("\(model)/reference.safetensors"))
        for prefix in ["text.", "image."] {
            let input = try ForwardInputs(path: reference.files[0].path, prefix: prefix)
            let out = try Qwen3VLForward(config: m.config, weights: m.weights).run(input)
            let want = try reference.tensor(prefix + "logits").readFloats()
            let c = try LogitComparison(out.logits, reference: want, vocabSize: out.vocabSize)
            #expect(c.passes(maxAbs: 5e-5), "\(name) \(prefix): \(c)")
        }
    }

    func importCheckpoint(_ model: String, _ dir: String, layout: ParallelLayout, vision: VisionLayout, format: MegatronFormat = .torchDist) throws -> String {
        let out = FileSystem.join(dir, "megatron")
        let hf = try HFCheckpoint(path: try Fixtures.path("\(model)/hf"), mappings: FileSystem.join(Fixtures.repoRoot, "Mappings"))
        try ImportPipeline.run(try ImportPlan(source: hf, request: ImportRequest(layout: layout, format: format, visionLayout: vision)),
                               to: out, overwrite: false, executor: WriteExecutor())
        return out
    }

    @Test(arguments: [("qwen3_vl_dense_tiny", ParallelLayout(tp: 2, pp: 2), VisionLayout.megatron, MegatronFormat.torchDist),
                      ("qwen3_vl_moe_tiny", ParallelLayout(tp: 2, ep: 4), .hf, .torchDist),
                      ("qwen3_vl_moe_tiny", ParallelLayout(pp: 3, ep: 2), .megatron, .legacy),
                      // Legacy ranks are merged by Forward's own reading of Megatron's modules: TP-sharded
                      // vision, SwiGLU and row-parallel linears, experts over EP with ETP = TP and ETP = 1.
                      ("qwen3_vl_dense_tiny", ParallelLayout(tp: 2, pp: 2), .megatron, .legacy),
                      ("qwen3_vl_moe_tiny", ParallelLayout(tp: 2, ep: 2), .hf, .legacy),
                      ("qwen3_vl_moe_tiny", ParallelLayout(tp: 2, ep: 2, etp: 1), .hf, .legacy)])
    func verifyPassesOnImports(model: String, layout: ParallelLayout, vision: VisionLayout, format: MegatronFormat) throws {
        let dir = Fixtures.scratch("verify")
        defer { FileSystem.remove(dir) }
        let meg = try importCheckpoint(model, dir, layout: layout, vision: vision, format: format)
        #expect(exitStatus(["verify", try Fixtures.path("\(model)/hf"), meg]) == 0)
        #expect(exitStatus(["verify", try Fixtures.path("\(model)/hf"), meg, "--inputs", try Fixtures.path("\(model)/reference.safetensors")]) == 0)
    }

    /// Two TP ranks' files exchanged: each file is well formed and export-shaped, but the merged tensors
    /// are in the wrong order, which the forward pass must see.
    @Test func verifyFailsOnExchangedLegacyTPRanks() throws {
        let dir = Fixtures.scratch("verify-ranks")
        defer { FileSystem.remove(dir) }
        let meg = try importCheckpoint("qwen3_vl_dense_tiny", dir, layout: ParallelLayout(tp: 2), vision: .hf, format: .legacy)
        let it = FileSystem.join(meg, "release")
        let a = FileSystem.join(it, "mp_rank_00/model_optim_rng.pt"), b = FileSystem.join(it, "mp_rank_01/model_optim_rng.pt")
        let swap = FileSystem.join(it, "swap.pt")
        for (from, to) in [(a, swap), (b, a), (swap, b)] { #expect(rename(from, to) == 0) }
        #expect(exitStatus(["verify", try Fixtures.path("qwen3_vl_dense_tiny/hf"), meg]) == 1)
    }

    /// Rewrites a torch_dist checkpoint with `swap` applied to its global tensors (whole-tensor chunks).
    func corruptCopy(of meg: String, into out: String, swap: (String, TorchDistStore) throws -> TensorSource?) throws {
        let iter = try CheckpointFormat.iterationDirectory(meg)!
        let ckpt = try TorchDistCheckpoint(path: iter)
        let store = TorchDistStore(ckpt)
        var file = TorchDistWritePlan.FilePlan(name: TorchDistWritePlan.fileName(rank: 0))
        for k in ckpt.byteKeys { file.bytesItems.append(.init(key: k, payload: try ckpt.rawBytes(k))) }
        for k in ckpt.tensorKeys {
            let t = try swap(k, store) ?? store.tensorSource(k)
            file.tensorChunks.append(.init(key: k, globalShape: t.shape, dtype: t.dtype, offsets: [Int](repeating: 0, count: t.shape.count),
                                           sizes: t.shape, source: t))
        }
        let dest = FileSystem.join(out, "release")
        try FileSystem.makeDirectory(dest)
        _ = try TorchDistWriter.writeFolder(TorchDistWritePlan(files: [file]), into: dest, commonState: try ckpt.commonState)
        try FileSystem.makeDirectory(FileSystem.join(dest, "hf_config"))
        try FileSystem.copyFile(FileSystem.join(iter, "hf_config/config.json"), FileSystem.join(dest, "hf_config/config.json"))
        try writeWholeFile(FileSystem.join(out, "latest_checkpointed_iteration.txt"), Array("release".utf8))
    }

    @Test func verifyFailsWhenTwoExpertsAreSwapped() throws {
        let dir = Fixtures.scratch("corrupt-experts")
        defer { FileSystem.remove(dir) }
        let meg = try importCheckpoint("qwen3_vl_moe_tiny", dir, layout: ParallelLayout(ep: 2), vision: .hf)
        let bad = FileSystem.join(dir, "bad")
        try corruptCopy(of: meg, into: bad) { key, store in
            guard key.hasSuffix("mlp.experts.experts.linear_fc1.weight") else { return nil }
            let t = try store.tensorSource(key)   // [L, E, 2I, H]
            var parts = [ComposedTensor.Part]()
            for l in 0..<t.shape[0] {
                for e in 0..<t.shape[1] {
                    let from = l == 0 && e < 2 ? 1 - e : e
                    parts.append(.init(box: Box(offsets: [l, e, 0, 0], sizes: [1, 1, t.shape[2], t.shape[3]]), source: t,
                                       sourceOrigin: [l, from, 0, 0], axisMap: [0, 1, 2, 3]))
                }
            }
            return ComposedTensor(dtype: t.dtype, shape: t.shape, parts: parts)
        }
        #expect(exitStatus(["verify", try Fixtures.path("qwen3_vl_moe_tiny/hf"), meg]) == 0)
        #expect(exitStatus(["verify", try Fixtures.path("qwen3_vl_moe_tiny/hf"), bad]) == 1)
    }

    @Test func verifyFailsWhenQAndKNormsAreExchanged() throws {
        let dir = Fixtures.scratch("corrupt-norms")
        defer { FileSystem.remove(dir) }
        let meg = try importCheckpoint("qwen3_vl_dense_tiny", dir, layout: ParallelLayout(tp: 2), vision: .megatron)
        let bad = FileSystem.join(dir, "bad")
        try corruptCopy(of: meg, into: bad) { key, store in
            if key.hasSuffix("self_attention.q_layernorm.weight") {
                return try store.tensorSource(key.replacingOccurrences(of: "q_layernorm", with: "k_layernorm"))
            }
            if key.hasSuffix("self_attention.k_layernorm.weight") {
                return try store.tensorSource(key.replacingOccurrences(of: "k_layernorm", with: "q_layernorm"))
            }
            return nil
        }
        #expect(exitStatus(["verify", try Fixtures.path("qwen3_vl_dense_tiny/hf"), bad]) == 1)
    }
}
