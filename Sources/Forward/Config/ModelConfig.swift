import Foundation
import TensorCore

/// The parts of a Qwen3-VL / Qwen3-VL-MoE `config.json` the reference forward pass needs.
///
/// Parsed here, independently of the converter's provider code, so that a config-reading bug in the
/// converter cannot cancel itself out in `verify`. Both spellings are accepted: transformers 4.57 / Hub
/// (`rope_theta` + `rope_scaling`, `num_experts`) and transformers 5.x (`rope_parameters`,
/// `num_local_experts`).
public struct ModelConfig: Sendable {
    public var text: TextConfig
    /// Nil for a text-only config (no `vision_config`).
    public var vision: VisionConfig?
    /// Top-level `tie_word_embeddings` (the text config's copy is ignored, as transformers does for Qwen3-VL).
    public var tieWordEmbeddings: Bool
    public var imageTokenId: Int
    public var videoTokenId: Int
    public var visionStartTokenId: Int
    public var visionEndTokenId: Int

    /// Parses the top-level object of a config.json.
    public init(json: JSONValue) throws {
        guard json.objectMembers != nil else { throw ForwardError(.config, "config.json is not a JSON object") }
        let top = ConfigReader(json, path: "")
        guard let textJSON = json["text_config"], textJSON.objectMembers != nil else {
            throw ForwardError(.config, "config.json has no text_config object", key: "text_config",
                               hint: "the forward pass supports Qwen3-VL and Qwen3-VL-MoE configs")
        }
        text = try TextConfig(ConfigReader(textJSON, path: "text_config."))
        if let v = json["vision_config"], v.objectMembers != nil {
            vision = try VisionConfig(ConfigReader(v, path: "vision_config."))
        } else {
            vision = nil
        }
        tieWordEmbeddings = try top.bool("tie_word_embeddings", default: false)
        imageTokenId = try top.int("image_token_id", default: 151655)
        videoTokenId = try top.int("video_token_id", default: 151656)
        visionStartTokenId = try top.int("vision_start_token_id", default: 151652)
        visionEndTokenId = try top.int("vision_end_token_id", default: 151653)
        if let vision, vision.outHiddenSize != text.hiddenSize {
            throw ForwardError(.config, "vision out_hidden_size \(vision.outHiddenSize) differs from text hidden_size \(text.hiddenSize)",
                               key: "vision_config.out_hidden_size")
        }
    }

    /// Reads and parses a config.json file.
    public init(configPath: String) throws {
        let bytes: [UInt8]
        do { bytes = try readWholeFile(configPath) } catch {
            throw ForwardError(.config, "cannot read config.json", file: configPath, underlying: error)
        }
        do {
            try self.init(json: try JSONParser.parse(bytes))
        } catch var e as ForwardError {
            e.file = configPath
            throw e
        } catch {
            throw ForwardError(.config, "config.json is not valid JSON", file: configPath, underlying: error)
        }
    }
}

/// `text_config` of Qwen3-VL (dense) or Qwen3-VL-MoE.
public struct TextConfig: Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var attentionBias: Bool
    public var ropeTheta: Double
    /// Frequencies per (t, h, w) section; sums to headDim / 2. Always applied interleaved, as transformers'
    /// Qwen3-VL and Megatron both do.
    public var mropeSection: [Int]
    /// Nil for a dense model.
    public var moe: MoEConfig?

    init(_ r: ConfigReader) throws {
        vocabSize = try r.int("vocab_size")
        hiddenSize = try r.int("hidden_size")
        intermediateSize = try r.int("intermediate_size", default: 0)
        numLayers = try r.int("num_hidden_layers")
        numHeads = try r.int("num_attention_heads")
        numKVHeads = try r.int("num_key_value_heads", default: numHeads)
        headDim = try r.optionalInt("head_dim") ?? (hiddenSize / max(numHeads, 1))
        rmsNormEps = Float(try r.double("rms_norm_eps", default: 1e-6))
        attentionBias = try r.bool("attention_bias", default: false)
        let act = try r.string("hidden_act", default: "silu")
        guard act == "silu" else {
            throw ForwardError(.config, "text hidden_act '\(act)' is not supported (only silu)", key: r.path + "hidden_act")
        }
        // Rope: 5.x `rope_parameters` carries theta; 4.57 keeps `rope_theta` beside `rope_scaling`.
        let rope = r.object("rope_parameters") ?? r.object("rope_scaling")
        let ropeKey = r.object("rope_parameters") != nil ? "rope_parameters" : "rope_scaling"
        ropeTheta = try rope?.optionalDouble("rope_theta") ?? r.double("rope_theta", default: 10000)
        let ropeType = try rope?.optionalString("rope_type") ?? rope?.optionalString("type") ?? "default"
        guard ropeType == "default" else {
            throw ForwardError(.config, "rope_type '\(ropeType)' is not supported (only default)", key: r.path + ropeKey + ".rope_type")
        }
        mropeSection = try rope?.optionalInts("mrope_section") ?? [24, 20, 20]
        guard numHeads > 0, numKVHeads > 0, numHeads % numKVHeads == 0, headDim > 0, headDim % 2 == 0 else {
            throw ForwardError(.config, "attention heads \(numHeads) / kv heads \(numKVHeads) / head_dim \(headDim) are inconsistent",
                               key: r.path + "num_key_value_heads")
        }
        guard mropeSection.count == 3, mropeSection.allSatisfy({ $0 >= 0 }), mropeSection.reduce(0, +) == headDim / 2 else {
            throw ForwardError(.config, "mrope_section \(mropeSection) must have 3 entries summing to head_dim/2 = \(headDim / 2)",
                               key: r.path + ropeKey + ".mrope_section")
        }
        let experts = try r.optionalInt("num_experts") ?? r.optionalInt("num_local_experts") ?? 0
        moe = experts > 0 ? try MoEConfig(r, numExperts: experts) : nil
        for (name, v) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numLayers)] where v <= 0 {
            throw ForwardError(.config, "\(name) must be positive", key: r.path + name)
        }
    }

    /// Whether layer `layer` uses the MoE block (transformers' rule: not in `mlp_only_layers`, and
    /// `(layer + 1) % decoder_sparse_step == 0`).
    public func isSparse(layer: Int) -> Bool {
        guard let moe else { return false }
        return !moe.mlpOnlyLayers.contains(layer) && (layer + 1) % moe.decoderSparseStep == 0
    }
}

/// The MoE fields of a Qwen3-VL-MoE text config.
public struct MoEConfig: Sendable {
    public var numExperts: Int
    public var topK: Int
    public var intermediateSize: Int
    public var decoderSparseStep: Int
    public var mlpOnlyLayers: [Int]
    /// Renormalise the top-k probabilities to sum to 1 (absent in 5.x configs, where it is always on).
    public var normTopKProb: Bool

    init(_ r: ConfigReader, numExperts: Int) throws {
        self.numExperts = numExperts
        topK = try r.int("num_experts_per_tok")
        intermediateSize = try r.int("moe_intermediate_size")
        decoderSparseStep = try r.int("decoder_sparse_step", default: 1)
        mlpOnlyLayers = try r.optionalInts("mlp_only_layers") ?? []
        normTopKProb = try r.bool("norm_topk_prob", default: true)
        guard topK > 0, topK <= numExperts, decoderSparseStep > 0, intermediateSize > 0 else {
            throw ForwardError(.config, "MoE fields are inconsistent: \(numExperts) experts, top-k \(topK), sparse step \(decoderSparseStep)",
                               key: r.path + "num_experts_per_tok")
        }
    }
}

/// `vision_config` of Qwen3-VL.
public struct VisionConfig: Sendable {
    public var depth: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHeads: Int
    public var inChannels: Int
    public var patchSize: Int
    public var temporalPatchSize: Int
    public var spatialMergeSize: Int
    public var outHiddenSize: Int
    public var numPositionEmbeddings: Int
    public var deepstackVisualIndexes: [Int]
    /// The vision blocks' MLP activation (`gelu_pytorch_tanh` -> tanh, `gelu` -> exact).
    public var blockActivation: GELUKind
    public var ropeTheta: Double

    public var headDim: Int { hiddenSize / numHeads }
    /// Side of the learned square position grid.
    public var gridSide: Int { Int(Double(numPositionEmbeddings).squareRoot().rounded(.down)) }
    /// Elements of one flattened input patch (C·T·P·P).
    public var patchElements: Int { inChannels * temporalPatchSize * patchSize * patchSize }
    /// Width of a merged token before the merger MLP (m²·Hv).
    public var mergedHidden: Int { hiddenSize * spatialMergeSize * spatialMergeSize }

    init(_ r: ConfigReader) throws {
        depth = try r.int("depth")
        hiddenSize = try r.int("hidden_size")
        intermediateSize = try r.int("intermediate_size")
        numHeads = try r.int("num_heads")
        inChannels = try r.int("in_channels", default: 3)
        patchSize = try r.int("patch_size", default: 16)
        temporalPatchSize = try r.int("temporal_patch_size", default: 2)
        spatialMergeSize = try r.int("spatial_merge_size", default: 2)
        outHiddenSize = try r.int("out_hidden_size")
        numPositionEmbeddings = try r.int("num_position_embeddings")
        deepstackVisualIndexes = try r.optionalInts("deepstack_visual_indexes") ?? []
        let act = try r.string("hidden_act", default: "gelu_pytorch_tanh")
        switch act {
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": blockActivation = .tanh
        case "gelu": blockActivation = .exact
        default:
            throw ForwardError(.config, "vision hidden_act '\(act)' is not supported", key: r.path + "hidden_act")
        }
        ropeTheta = try r.object("rope_parameters")?.optionalDouble("rope_theta") ?? 10000
        guard numHeads > 0, hiddenSize % numHeads == 0, (hiddenSize / numHeads) % 4 == 0 else {
            throw ForwardError(.config, "vision hidden_size \(hiddenSize) / num_heads \(numHeads) must give a head dim divisible by 4",
                               key: r.path + "num_heads")
        }
        guard gridSide * gridSide == numPositionEmbeddings else {
            throw ForwardError(.config, "num_position_embeddings \(numPositionEmbeddings) is not a square", key: r.path + "num_position_embeddings")
        }
        if let bad = deepstackVisualIndexes.first(where: { $0 < 0 || $0 >= depth }) {
            throw ForwardError(.config, "deepstack index \(bad) is outside 0..<\(depth)", key: r.path + "deepstack_visual_indexes")
        }
    }
}

/// Typed access to one JSON object of the config, with key paths in the errors.
struct ConfigReader {
    let json: JSONValue
    let path: String

    init(_ json: JSONValue, path: String) {
        self.json = json
        self.path = path
    }

    private func present(_ key: String) -> JSONValue? {
        guard let v = json[key], !v.isNull else { return nil }
        return v
    }

    func object(_ key: String) -> ConfigReader? {
        guard let v = present(key), v.objectMembers != nil else { return nil }
        return ConfigReader(v, path: path + key + ".")
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let v = present(key) else { return nil }
        guard let i = v.intValue else { throw ForwardError(.config, "expected an integer", key: path + key) }
        return i
    }

    func int(_ key: String, default d: Int? = nil) throws -> Int {
        if let i = try optionalInt(key) { return i }
        if let d { return d }
        throw ForwardError(.config, "config field is missing", key: path + key)
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let v = present(key) else { return nil }
        guard let x = v.doubleValue else { throw ForwardError(.config, "expected a number", key: path + key) }
        return x
    }

    func double(_ key: String, default d: Double) throws -> Double { try optionalDouble(key) ?? d }

    func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let v = present(key) else { return d }
        guard let b = v.boolValue else { throw ForwardError(.config, "expected true or false", key: path + key) }
        return b
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v.stringValue else { throw ForwardError(.config, "expected a string", key: path + key) }
        return s
    }

    func string(_ key: String, default d: String) throws -> String { try optionalString(key) ?? d }

    func optionalInts(_ key: String) throws -> [Int]? {
        guard let v = present(key) else { return nil }
        guard let a = v.arrayValue else { throw ForwardError(.config, "expected an array of integers", key: path + key) }
        return try a.map {
            guard let i = $0.intValue else { throw ForwardError(.config, "expected an array of integers", key: path + key) }
            return i
        }
    }
}
