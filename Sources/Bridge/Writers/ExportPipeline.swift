import SafeTensors
import TensorCore

/// Writes an export plan as a Hugging Face checkpoint: safetensors shards (+ index), config.json, and the
/// tokenizer / processor files of the config folder. Everything lands in a temporary folder that is
/// renamed into place only when complete.
public enum ExportPipeline {
    /// Files copied from the HF config folder besides config.json (when present).
    static let companionFiles = ["generation_config.json", "preprocessor_config.json", "video_preprocessor_config.json",
                                 "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                                 "merges.txt", "chat_template.json", "chat_template.jinja", "added_tokens.json"]

    public static func run(_ plan: ExportPlan, hfConfig: HFConfig, configDirectory: String?, to path: String,
                           overwrite: Bool, executor: WriteExecutor) throws {
        try output(plan, hfConfig: hfConfig, configDirectory: configDirectory).write(to: path, overwrite: overwrite, executor: executor)
    }

    /// What the export writes: the safetensors shards with their planned sizes, and the rest (the index,
    /// config.json, the tokenizer / processor files).
    public static func output(_ plan: ExportPlan, hfConfig: HFConfig, configDirectory: String?) throws -> ConversionOutput {
        let items = try items(plan)  // before the output folder exists: a refused request leaves nothing behind
        let shards = try SafeTensorsWriter.plan(items, maxShardSize: plan.request.maxShardSize)
        // The weights written are dequantized unless --quantize asked for FP8: the config says which.
        var config = HFConfigWriter.removingQuantization(hfConfig.json)
        if let q = plan.request.quantize { config = HFConfigWriter.settingQuantization(config, to: q.json) }
        if let d = plan.request.dtype { config = HFConfigWriter.settingDType(config, to: d) }
        let configBytes = Array((JSONWriter.write(config) + "\n").utf8)
        return ConversionOutput(
            conversion: .exportToHuggingFace,
            inputs: OutputKinds.megatronInputs(iterationDirectory: plan.reader.path) + [configDirectory].compactMap { $0 },
            dataFiles: shards.map { ConversionOutput.DataFile(path: $0.fileName, size: $0.fileSize) },
            writeData: { paths, root, executor in
                try SafeTensorsWriter.writeShards(shards.filter { paths.contains($0.fileName) }, into: root, executor: executor)
            },
            writeRest: { root in
                try SafeTensorsWriter.writeIndex(shards, into: root)
                try writeWholeFile(FileSystem.join(root, "config.json"), configBytes)
                if let dir = configDirectory {
                    for f in companionFiles where FileSystem.isFile(FileSystem.join(dir, f)) {
                        try FileSystem.copyFile(FileSystem.join(dir, f), FileSystem.join(root, f))
                    }
                }
            })
    }

    /// The tensors to write: each HF tensor, or with `--quantize` its FP8 elements and `…_scale_inv` (F32).
    static func items(_ plan: ExportPlan) throws -> [SafeTensorsWriter.Item] {
        try plan.hfTensors.flatMap { t -> [SafeTensorsWriter.Item] in
            let source = try plan.hfSource(t)
            guard let q = plan.request.quantize, q.quantizes(t.name, shape: t.shape) else {
                return [SafeTensorsWriter.Item(name: t.name, dtype: plan.request.dtype, source: source)]
            }
            let block = (q.blockRows, q.blockCols)
            if t.shape.count == 3 { try checkFusedExperts(t, plan: plan, block: block) }
            return [SafeTensorsWriter.Item(name: t.name, source: try FP8QuantizedTensor(base: source, part: .elements, block: block, name: t.name)),
                    SafeTensorsWriter.Item(name: FP8QuantizationConfig.scaleName(of: t.name),
                                           source: try FP8QuantizedTensor(base: source, part: .scales, block: block, name: t.name))]
        }
    }

    /// Fused experts are quantized per expert over [out, in], as transformers' `FP8Experts` holds them
    /// ([E,2I,H] / [E,H,I]). It sizes the gate_up scales as gate's and up's grids stacked
    /// (`_alloc_expert_proj(min_sf_out=2)`), which is the grid of the fused matrix only when a block
    /// boundary falls between gate and up: other block heights are refused rather than written ambiguously.
    static func checkFusedExperts(_ t: PlannedHFTensor, plan: ExportPlan, block: (Int, Int)) throws {
        guard plan.request.expertLayout == .v5 else {
            throw BridgeError(.request, "FP8 fused experts are written in the transformers-5 layout [E,2I,H] / [E,H,I], not \(plan.request.expertLayout.rawValue)",
                              key: t.name, hint: "use --expert-layout v5 (the default with --quantize) or per-expert")
        }
        if t.name.hasSuffix("gate_up_proj"), (t.shape[1] / 2) % block.0 != 0 {
            throw BridgeError(.request, "block height \(block.0) does not divide moe_intermediate_size \(t.shape[1] / 2): a block would straddle gate and up in '\(t.name)'",
                              key: t.name, hint: "use --expert-layout per-expert, or a block height that divides \(t.shape[1] / 2)")
        }
    }
}
