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
        let items = try plan.hfTensors.map { t in
            SafeTensorsWriter.Item(name: t.name, dtype: plan.request.dtype, source: try plan.hfSource(t))
        }
        let shards = try SafeTensorsWriter.plan(items, maxShardSize: plan.request.maxShardSize)
        var config = hfConfig.json
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
}
