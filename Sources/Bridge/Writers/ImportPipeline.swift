import Foundation
import TensorCore
import TorchFormats

/// Executes an import plan: writes the Megatron checkpoint into a temporary folder, then renames it into
/// place. Layout of the result:
///
///     OUT/latest_checkpointed_iteration.txt       "release" (or N)
///     OUT/release/ (or iter_000000N/)
///         metadata.json  common.pt  .metadata  __R_0.distcp …       (torch_dist)
///         mp_rank_XX[_YYY[_ZZZ]]/model_optim_rng.pt …               (legacy)
///         run_config.yaml                                          (Megatron-Bridge)
///         hf_config/config.json …                                  (the original HF config, for export)
public enum ImportPipeline {
    public static func run(_ plan: ImportPlan, to path: String, overwrite: Bool, executor: WriteExecutor) throws {
        let out = try AtomicOutputDirectory(finalPath: path, overwrite: overwrite, inputs: [plan.source.path],
                                            replaceable: OutputKinds.megatronCheckpoint)
        let iteration: CheckpointIteration = plan.request.iteration == 0 ? .release : .number(plan.request.iteration)
        let dir = out.path(iteration.folderName)
        try FileSystem.makeDirectory(dir)
        let sources = try (0..<plan.parameters.count).map { try plan.parameterSource($0) }
        switch plan.request.format {
        case .torchDist: try writeTorchDist(plan, sources: sources, into: dir, executor: executor)
        case .legacy: try writeLegacy(plan, sources: sources, into: dir, executor: executor)
        }
        try writeWholeFile(FileSystem.join(dir, "run_config.yaml"),
                           Array(RunConfigWriter.yaml(context: plan.context, layout: plan.request.layout, dtype: dominantDType(plan)).utf8))
        try embedHFConfig(from: plan.source.path, into: FileSystem.join(dir, HFConfigRecovery.embeddedFolder))
        try MegatronCheckpointRoot.writeTracker(root: out.tempPath, iteration: iteration)
        try out.commit()
    }

    /// The dtype most parameters have (Megatron's params_dtype).
    static func dominantDType(_ plan: ImportPlan) -> DType {
        var count = [DType: Int]()
        for s in plan.storage { count[s.dtype, default: 0] += Shape.elementCount(s.shape) ?? 0 }
        return count.max { $0.value < $1.value }?.key ?? .f32
    }

    private static func writeTorchDist(_ plan: ImportPlan, sources: [ComposedTensor], into dir: String, executor: WriteExecutor) throws {
        var files = [Int: TorchDistWritePlan.FilePlan]()
        func file(_ rank: Int) -> TorchDistWritePlan.FilePlan {
            files[rank] ?? TorchDistWritePlan.FilePlan(name: TorchDistWritePlan.fileName(rank: rank))
        }
        let extra = try MegatronFiles.extraStatePayload()
        for x in plan.extraStates {
            // Written by the main replica: TP (or ETP) rank 0 of the owning ranks.
            let rank = plan.placement.globalRank(stage: plan.placement.stage(of: x), shardRank: 0, expert: x.expert)
            var f = file(rank)
            f.bytesItems.append(.init(key: x.dcpKey, payload: extra))
            files[rank] = f
        }
        for s in plan.storage {
            for c in s.chunks {
                var f = file(c.rank)
                f.tensorChunks.append(.init(key: s.key, globalShape: s.shape, dtype: s.dtype, offsets: c.box.offsets,
                                            sizes: c.box.sizes, source: sources[c.parameter], sourceBox: c.shard.box))
                files[c.rank] = f
            }
        }
        let wp = TorchDistWritePlan(files: files.keys.sorted().map { files[$0]! })
        let common = MegatronArgs.commonState(context: plan.context, layout: plan.request.layout,
                                              dtype: dominantDType(plan), iteration: plan.request.iteration)
        _ = try TorchDistWriter.writeFolder(wp, into: dir, commonState: common, executor: executor)
    }

    private static func writeLegacy(_ plan: ImportPlan, sources: [ComposedTensor], into dir: String, executor: WriteExecutor) throws {
        let args = MegatronArgs.commonState(context: plan.context, layout: plan.request.layout, dtype: dominantDType(plan),
                                            iteration: plan.request.iteration, format: .legacy)["args"]
        for file in try plan.legacyFiles() {
            var model = [(String, PickleValue)]()
            for t in file.tensors {
                let local = try localTensor(sources[t.parameter], shards: t.shards)
                model.append((t.name, .tensorPayload(try TorchTensorPayload(source: local))))
            }
            model += file.extraStates.map { ($0, PickleValue.none) }
            let path = FileSystem.join(dir, file.path)
            try FileSystem.makeDirectory(FileSystem.dirname(path))
            let root = LegacyMegatronWriter.rankState(args: args, iteration: plan.request.iteration, model: model)
            try LegacyMegatronWriter.writeRankFile(root, to: path, executor: executor)
        }
    }

    /// The rank's shards stacked along axis 0.
    static func localTensor(_ source: ComposedTensor, shards: [Shard]) throws -> ComposedTensor {
        var parts = [ComposedTensor.Part]()
        var row = 0
        for s in shards {
            var box = s.box
            box.offsets = [row] + [Int](repeating: 0, count: box.rank - 1)
            parts.append(ComposedTensor.Part(box: box, source: source, sourceOrigin: s.box.offsets, axisMap: (0..<box.rank).map { $0 }))
            row += s.box.sizes[0]
        }
        return ComposedTensor(dtype: source.dtype, shape: LocalShards.localShape(shards), parts: parts)
    }

    /// Copies config.json and the tokenizer / processor files of the HF folder.
    static func embedHFConfig(from hf: String, into folder: String) throws {
        try FileSystem.makeDirectory(folder)
        try FileSystem.copyFile(FileSystem.join(hf, "config.json"), FileSystem.join(folder, "config.json"))
        for f in ExportPipeline.companionFiles where FileSystem.isFile(FileSystem.join(hf, f)) {
            try FileSystem.copyFile(FileSystem.join(hf, f), FileSystem.join(folder, f))
        }
    }
}
