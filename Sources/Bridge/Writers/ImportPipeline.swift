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
///         .metadata  __0_0.distcp                                    (fsdp_dtensor: FSDPDTensorWriter)
///         run_config.yaml                                          (Megatron-Bridge)
///         integrity.json                                           (torch_dist: SHA-256 of every file above)
///         hf_config/config.json …                                  (the original HF config, for export)
public enum ImportPipeline {
    public static func run(_ plan: ImportPlan, to path: String, overwrite: Bool, executor: WriteExecutor) throws {
        try output(plan).write(to: path, overwrite: overwrite, executor: executor)
    }

    /// What the import writes: the data files (`__R_0.distcp`, or `mp_rank_*/model_optim_rng.pt`) with their
    /// planned sizes, and the rest (metadata.json, common.pt, .metadata, run_config.yaml, hf_config/, tracker).
    public static func output(_ plan: ImportPlan) throws -> ConversionOutput {
        let iteration: CheckpointIteration = plan.request.iteration == 0 ? .release : .number(plan.request.iteration)
        let folder = iteration.folderName
        let sources = try (0..<plan.parameters.count).map { try plan.parameterSource($0) }
        let data: IterationData
        switch plan.request.format {
        case .torchDist: data = try torchDist(plan, sources: sources)
        case .legacy: data = try legacy(plan, sources: sources)
        case .fsdpDTensor: data = try FSDPDTensorWriter.iterationData(plan, sources: sources)
        }
        let runConfig = Array(RunConfigWriter.yaml(context: plan.context, layout: plan.request.layout, dtype: dominantDType(plan)).utf8)
        let hfPath = plan.source.path
        // Dequantized FP8 weights: the embedded config must not claim FP8, or export would write a config that lies.
        let dequantizedConfig = plan.source.weights.quantization == nil ? nil
            : Array((JSONWriter.write(HFConfigWriter.removingQuantization(plan.source.config.json)) + "\n").utf8)
        return ConversionOutput(
            conversion: .importToMegatron, inputs: [hfPath],
            dataFiles: data.files.map { ConversionOutput.DataFile(path: FileSystem.join(folder, $0.path), size: $0.size) },
            writeData: { paths, root, executor in
                let dir = FileSystem.join(root, folder)
                try FileSystem.makeDirectory(dir)
                let prefix = folder + "/"
                try data.write(Set(paths.compactMap { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : nil }), dir, executor)
            },
            writeRest: { root in
                let dir = FileSystem.join(root, folder)
                try FileSystem.makeDirectory(dir)
                try data.writeRest(dir)
                try writeWholeFile(FileSystem.join(dir, "run_config.yaml"), runConfig)
                try embedHFConfig(from: hfPath, into: FileSystem.join(dir, HFConfigRecovery.embeddedFolder))
                if let dequantizedConfig {
                    try writeWholeFile(FileSystem.join(dir, HFConfigRecovery.embeddedFolder, "config.json"), dequantizedConfig)
                }
                try MegatronCheckpointRoot.writeTracker(root: root, iteration: iteration)
            },
            // megatron-core writes its manifest for torch_dist only (verify_integrity reads no legacy ranks).
            integrityFolders: plan.request.format == .torchDist && plan.request.integrityManifest ? [folder] : [])
    }

    /// The data files of one iteration folder (paths relative to it) and the writers of them and of the
    /// folder's other files.
    struct IterationData {
        var files: [ConversionOutput.DataFile]
        var write: (Set<String>, String, WriteExecutor) throws -> Void
        var writeRest: (String) throws -> Void
    }

    /// The dtype most parameters have (Megatron's params_dtype).
    static func dominantDType(_ plan: ImportPlan) -> DType {
        var count = [DType: Int]()
        for s in plan.storage { count[s.dtype, default: 0] += Shape.elementCount(s.shape) ?? 0 }
        return count.max { $0.value < $1.value }?.key ?? .f32
    }

    private static func torchDist(_ plan: ImportPlan, sources: [ComposedTensor]) throws -> IterationData {
        var files = [Int: TorchDistWritePlan.FilePlan]()
        func file(_ rank: Int) -> TorchDistWritePlan.FilePlan {
            files[rank] ?? TorchDistWritePlan.FilePlan(name: TorchDistWritePlan.fileName(rank: rank))
        }
        let extra = try MegatronFiles.extraStatePayload()
        for x in plan.extraStates {
            let rank = plan.placement.writer(of: x)
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
        let common = MegatronArgs.commonState(context: plan.context, layout: plan.request.layout,
                                              dtype: dominantDType(plan), iteration: plan.request.iteration)
        // megatron-core 0.19 (`--common-state dcp`) saves the common state as ShardedObject 'common_state'
        // (global shape (1,), replica_id = rank), so only rank 0's copy is written, in rank 0's file.
        let inDCP = plan.request.commonState == .dcp
        if inDCP {
            var f = file(0)
            f.bytesItems.append(.init(key: TorchDistCheckpoint.commonStateKey, payload: try MegatronFiles.commonStateItemPayload(common)))
            files[0] = f
        }
        let wp = TorchDistWritePlan(files: files.keys.sorted().map { files[$0]! })
        let layout = try TorchDistWriter.layout(wp)
        return IterationData(
            files: layout.dataFiles.map { ConversionOutput.DataFile(path: $0.name, size: $0.size) },
            write: { names, dir, executor in try TorchDistWriter.writeDataFiles(layout, only: names, into: dir, executor: executor) },
            writeRest: { dir in
                if inDCP {
                    try MegatronFiles.writeMetadataJSON(MegatronFiles.commonStateInDCPMetadataJSON, directory: dir)
                } else {
                    try MegatronFiles.writeMetadataJSON(directory: dir)
                    try MegatronFiles.writeCommonPT(common, directory: dir)
                }
                try TorchDistWriter.writeMetadata(layout, into: dir)
            })
    }

    private static func legacy(_ plan: ImportPlan, sources: [ComposedTensor]) throws -> IterationData {
        let args = MegatronArgs.commonState(context: plan.context, layout: plan.request.layout, dtype: dominantDType(plan),
                                            iteration: plan.request.iteration, format: .legacy)["args"]
        var files = [(path: String, save: TorchSavePlan)]()
        for file in try plan.legacyFiles() {
            var model = [(String, PickleValue)]()
            for t in file.tensors {
                let local = try localTensor(sources[t.parameter], shards: t.shards)
                model.append((t.name, .tensorPayload(try TorchTensorPayload(source: local))))
            }
            model += file.extraStates.map { ($0, PickleValue.none) }
            let root = LegacyMegatronWriter.rankState(args: args, iteration: plan.request.iteration, model: model)
            files.append((file.path, try LegacyMegatronWriter.plan(root, fileName: FileSystem.basename(file.path))))
        }
        return IterationData(
            files: files.map { ConversionOutput.DataFile(path: $0.path, size: $0.save.totalLength) },
            write: { paths, dir, executor in
                for f in files where paths.contains(f.path) {
                    let path = FileSystem.join(dir, f.path)
                    try FileSystem.makeDirectory(FileSystem.dirname(path))
                    try LegacyMegatronWriter.write(f.save, to: path, executor: executor)
                }
            },
            writeRest: { _ in })
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
