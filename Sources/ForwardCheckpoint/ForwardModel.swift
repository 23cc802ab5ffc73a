import Bridge
import Forward
import SafeTensors
import TensorCore

/// A checkpoint opened for the forward pass: its config and weights, read with the semantics of its own
/// format (HF names for safetensors, Megatron names and runtime semantics for torch_dist and legacy).
public struct ForwardModel {
    public var config: ModelConfig
    public var weights: ModelWeights
    /// "HF safetensors", "Megatron torch_dist", …: what was opened, for reports.
    public var kind: String
    /// The folder holding the checkpoint's config and processor files (preprocessor_config.json), when known.
    public var companionDirectory: String? = nil

    /// - Parameter hfConfig: a folder whose config.json describes the model (for Megatron checkpoints
    ///   without an embedded config).
    public static func open(_ path: String, hfConfig: String?) throws -> ForwardModel {
        switch try CheckpointFormat.detect(path) {
        case .safetensors:
            let ckpt = try SafeTensorsCheckpoint(path: path)
            let cfgPath = FileSystem.join(hfConfig ?? ckpt.directory, "config.json")
            let config = try ModelConfig(configPath: cfgPath)
            // Fine-grained FP8 weights are read dequantized to bf16, the dtype transformers loads them in.
            let tensors = try HFTensors(checkpoint: ckpt, config: try HFConfig(directory: cfgPath))
            return ForwardModel(config: config, weights: HFWeights(store: tensors, config: config),
                                kind: tensors.quantization == nil ? "HF safetensors" : "HF safetensors (FP8, dequantized to bf16)",
                                companionDirectory: hfConfig ?? ckpt.directory)
        case .torchDist, .legacy, .fsdpDTensor:
            let checkpoint = try MegatronCheckpoint.open(path, hfConfig: hfConfig)
            let config = try ModelConfig(json: checkpoint.hfConfig.json)
            // Legacy ranks are merged by Forward's own reading of Megatron's parallel modules, not by the
            // converter's reassembly, so that verify checks the converter's legacy format independently.
            let store: TensorStore
            switch checkpoint.source {
            case .torchDist, .fsdpDTensor: store = try checkpoint.storageView()
            case let .legacy(c): store = try LegacyMegatronStore(checkpoint: c)
            }
            let weights = try MegatronWeights(store: store, config: config)
            return ForwardModel(config: config, weights: weights, kind: "Megatron \(checkpoint.format.rawValue)",
                                companionDirectory: checkpoint.found.companionDirectory)
        case .torchSave:
            throw BridgeError(.unknownFormat, "a single .pt file is not a model checkpoint", file: path)
        }
    }
}

/// The inputs to run: from a file (`--inputs`, optionally under `--prefix`), else the built-in text and
/// image prompts. A file holding `text.` / `image.` prefixed inputs (like the fixtures' reference files)
/// gives both.
public func loadInputs(path: String?, prefix: String?, config: ModelConfig) throws -> [(name: String, inputs: ForwardInputs)] {
    guard let path else { return try ForwardInputs.builtIn(config: config) }
    if let prefix { return [(prefix.isEmpty ? "input" : prefix, try ForwardInputs(path: path, prefix: prefix))] }
    let names = try SafeTensorsCheckpoint(path: path).names
    if names.contains("input_ids") { return [("input", try ForwardInputs(path: path))] }
    let prefixes = ["text.", "image."].filter { names.contains($0 + "input_ids") }
    guard !prefixes.isEmpty else {
        throw BridgeError(.request, "no input_ids in the inputs file", file: path, hint: "the file needs input_ids (I64 [1,S]), optionally pixel_values and image_grid_thw")
    }
    return try prefixes.map { (String($0.dropLast()), try ForwardInputs(path: path, prefix: $0)) }
}
