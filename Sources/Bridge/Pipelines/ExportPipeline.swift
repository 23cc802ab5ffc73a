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
        let out = try AtomicOutputDirectory(finalPath: path, overwrite: overwrite)
        let items = try plan.hfTensors.map { t in
            SafeTensorsWriter.Item(name: t.name, dtype: plan.request.dtype, source: try plan.hfSource(t))
        }
        let shards = try SafeTensorsWriter.plan(items, maxShardSize: plan.request.maxShardSize)
        try SafeTensorsWriter.write(shards, into: out.tempPath, executor: executor)
        var config = hfConfig.json
        if let d = plan.request.dtype { config = HFConfigWriter.settingDType(config, to: d) }
        try writeWholeFile(out.path("config.json"), Array((JSONWriter.write(config) + "\n").utf8))
        if let dir = configDirectory {
            for f in companionFiles where FileSystem.isFile(FileSystem.join(dir, f)) {
                try FileSystem.copyFile(FileSystem.join(dir, f), out.path(f))
            }
        }
        try out.commit()
    }
}

/// Small edits to HF configs.
public enum HFConfigWriter {
    /// The torch dtype name transformers writes for `d`.
    public static func torchDTypeName(_ d: DType) -> String {
        switch d {
        case .bf16: return "bfloat16"
        case .f16: return "float16"
        case .f64: return "float64"
        default: return "float32"
        }
    }

    /// The config with its `dtype` / `torch_dtype` fields (top level and sub-configs) set to `d`.
    public static func settingDType(_ config: JSONValue, to d: DType) -> JSONValue {
        guard case let .object(members) = config else { return config }
        return .object(members.map { k, v in
            if k == "dtype" || k == "torch_dtype", v.stringValue != nil { return (k, .string(torchDTypeName(d))) }
            if case .object = v, k.hasSuffix("_config") { return (k, settingDType(v, to: d)) }
            return (k, v)
        })
    }
}
