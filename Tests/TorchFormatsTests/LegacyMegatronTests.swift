import Foundation
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

/// Legacy `mp_rank_*` checkpoints: written with the streaming writer, read back rank by rank.
@Suite struct LegacyMegatronTests {
    /// Writes one rank file per rank with distinct weights; returns the weights by rank.
    @discardableResult
    private func writeRanks(_ ranks: [LegacyRank], root: String, iteration: CheckpointIteration, pp: Bool, ep: Bool,
                            args: [(String, PickleValue)]?, vpp: Int = 0) throws -> [LegacyRank: ArrayTensor] {
        var out = [LegacyRank: ArrayTensor]()
        for (i, r) in ranks.enumerated() {
            let dir = FileSystem.join(root, iteration.folderName, r.folderName(pipelineParallel: pp, expertParallel: ep))
            try FileSystem.makeDirectory(dir)
            let w = ArrayTensor.pattern(.bf16, [4, 6], seed: UInt64(i + 1))
            out[r] = w
            let model: [(String, PickleValue)] = [
                ("decoder.layers.0.self_attention.linear_qkv.weight", .tensorPayload(try TorchTensorPayload(source: w))),
                ("decoder.layers.0.self_attention.linear_qkv._extra_state", .none),
            ]
            var root: PickleValue
            if vpp > 0 {
                var items: [(String, PickleValue)] = [("checkpoint_version", .float(3.0)), ("iteration", .int(5))]
                for v in 0..<vpp { items.append(("model\(v)", .orderedDict(model.map { (.string($0.0), $0.1) }))) }
                root = .stringDict(items)
            } else {
                root = LegacyMegatronWriter.rankState(args: args.map { .namespace($0) }, iteration: 5, model: model,
                                                      extra: [("num_floating_point_operations_so_far", .int(0))])
            }
            try LegacyMegatronWriter.writeRankFile(root, to: FileSystem.join(dir, LegacyRank.fileName), executor: WriteExecutor(jobs: 2))
        }
        return out
    }

    @Test func tensorParallelRanksRoundTrip() throws {
        let s = ScratchFolder("legacy")
        let ranks = [LegacyRank(tp: 0), LegacyRank(tp: 1)]
        let weights = try writeRanks(ranks, root: s.path, iteration: .release, pp: false, ep: false,
                                     args: [("tensor_model_parallel_size", .int(2)), ("num_layers", .int(1))])
        try MegatronCheckpointRoot.writeTracker(root: s.path, iteration: .release)
        #expect(FileSystem.isDirectory(s.file("release/mp_rank_01")))
        let ckpt = try LegacyMegatronCheckpoint(path: s.path)
        #expect(ckpt.iteration == .release)
        #expect(ckpt.ranks == ranks)
        #expect(!ckpt.pipelineParallel && !ckpt.expertParallel)
        for r in ranks {
            let f = try ckpt.file(r)
            #expect(f.torchSave.archiveName == "model_optim_rng")
            #expect(f.checkpointVersion == 3.0 && f.iteration == 5)
            #expect(f.args?["tensor_model_parallel_size"] == .int(2))
            #expect(f.modelKeys == ["model"])
            let m = try f.model()
            #expect(try m.tensors["decoder.layers.0.self_attention.linear_qkv.weight"]?.readBytes() == weights[r]!.bytes)
            #expect(m.others["decoder.layers.0.self_attention.linear_qkv._extra_state"] == PickleValue.none)
            #expect(try TorchSaveFile(path: f.path, verifyCRC: true).root == f.root)
        }
        #expect(throws: TorchFormatsError.self) { try ckpt.file(LegacyRank(tp: 5)) }
    }

    /// Megatron-LM's names: `mp_rank_TT_PPP_EEE` with both, and `mp_rank_TT_EEE` for EP without PP, which
    /// the saved args (or the caller) must tell apart from `mp_rank_TT_PPP`.
    @Test func rankFolderNamesFollowMegatron() throws {
        #expect(LegacyRank(tp: 1, pp: 2, ep: 3).folderName(pipelineParallel: true, expertParallel: true) == "mp_rank_01_002_003")
        #expect(LegacyRank(tp: 1, pp: 0, ep: 3).folderName(pipelineParallel: false, expertParallel: true) == "mp_rank_01_003")
        #expect(LegacyRank(tp: 12, pp: 4).folderName(pipelineParallel: true, expertParallel: false) == "mp_rank_12_004")
        #expect(LegacyRank(tp: 123).folderName(pipelineParallel: false, expertParallel: false) == "mp_rank_123")
        #expect(LegacyRank.components(of: "mp_rank_00_001") == [0, 1])
        #expect(LegacyRank.components(of: "mp_rank_0_001") == nil)
        #expect(LegacyRank.components(of: "mp_rank_00_01") == nil)
        #expect(LegacyRank.components(of: "mp_rank_00_001_002_003") == nil)

        let s = ScratchFolder("legacy-ep")
        let ranks = [LegacyRank(tp: 0, ep: 0), LegacyRank(tp: 0, ep: 1)]
        try writeRanks(ranks, root: s.path, iteration: .number(5), pp: false, ep: true,
                       args: [("pipeline_model_parallel_size", .int(1)), ("expert_model_parallel_size", .int(2))])
        let byArgs = try LegacyMegatronCheckpoint(path: s.path)
        #expect(byArgs.iteration == .number(5))
        #expect(byArgs.ranks == ranks && byArgs.expertParallel && !byArgs.pipelineParallel)
        let byHint = try LegacyMegatronCheckpoint(path: s.file("iter_0000005"), pipelineParallel: true)
        #expect(byHint.ranks == [LegacyRank(tp: 0, pp: 0), LegacyRank(tp: 0, pp: 1)])
        #expect(throws: TorchFormatsError.self) { try LegacyMegatronCheckpoint(path: s.path, pipelineParallel: true, expertParallel: true) }

        let noArgs = ScratchFolder("legacy-noargs")
        try writeRanks(ranks, root: noArgs.path, iteration: .number(5), pp: false, ep: true, args: nil)
        do {
            _ = try LegacyMegatronCheckpoint(path: noArgs.path)
            Issue.record("guessed an ambiguous layout")
        } catch let e as TorchFormatsError {
            #expect(e.code == .checkpointLayout)
        }
        #expect(try LegacyMegatronCheckpoint(path: noArgs.path, expertParallel: true).ranks == ranks)

        let both = ScratchFolder("legacy-3")
        let r3 = [LegacyRank(tp: 0, pp: 0, ep: 0), LegacyRank(tp: 1, pp: 1, ep: 1)]
        try writeRanks(r3, root: both.path, iteration: .number(5), pp: true, ep: true, args: nil)
        let c3 = try LegacyMegatronCheckpoint(path: both.path)
        #expect(c3.ranks == r3 && c3.pipelineParallel && c3.expertParallel)
    }

    @Test func virtualPipelineChunks() throws {
        let s = ScratchFolder("legacy-vpp")
        try writeRanks([LegacyRank(tp: 0)], root: s.path, iteration: .number(5), pp: false, ep: false, args: nil, vpp: 3)
        let f = try LegacyMegatronCheckpoint(path: s.path).file(LegacyRank(tp: 0))
        #expect(f.modelKeys == ["model0", "model1", "model2"])
        #expect(try f.model("model2").tensors.count == 1)
        #expect(f.args == nil)
        #expect(throws: TorchFormatsError.self) { try f.model() }
    }

    @Test func brokenLayoutsAreRefused() throws {
        let s = ScratchFolder("legacy-bad")
        try FileSystem.makeDirectory(s.file("iter_0000001/mp_rank_00"))
        #expect(throws: TorchFormatsError.self) { try LegacyMegatronCheckpoint(path: s.path) }
        try writeRanks([LegacyRank(tp: 0)], root: s.path, iteration: .number(2), pp: false, ep: false, args: nil)
        try writeRanks([LegacyRank(tp: 0, pp: 1)], root: s.path, iteration: .number(3), pp: true, ep: false, args: nil)
        // Two iteration folders and no tracker.
        #expect(throws: TorchFormatsError.self) { try LegacyMegatronCheckpoint(path: s.path) }
        #expect(try LegacyMegatronCheckpoint(path: s.file("iter_0000002")).ranks == [LegacyRank(tp: 0)])
        // Mixed naming schemes in one folder.
        try writeRanks([LegacyRank(tp: 1)], root: s.path, iteration: .number(3), pp: false, ep: false, args: nil)
        #expect(throws: TorchFormatsError.self) { try LegacyMegatronCheckpoint(path: s.file("iter_0000003"), pipelineParallel: true) }
    }
}
