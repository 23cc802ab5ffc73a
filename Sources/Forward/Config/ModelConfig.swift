import Foundation
import ModelSpec
import TensorCore

/// The parts of a Qwen3-VL / Qwen3-VL-MoE `config.json` the reference forward pass needs.
///
/// The config is validated by `ModelSpec`, the one validation every command runs (so `forward` accepts
/// exactly the configs `import` accepts); this type adds only what the forward pass itself can compute
/// (silu text MLPs, default rope, the GELU variants of the vision blocks) and its defaults for the token
/// ids. The weight readers stay independent of the converter's mapping code.
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
        guard let textJSON = json["text_config"], textJSON.objectMembers != nil else {
            throw ForwardError(.config, "config.json has no text_config object", key: "text_config",
                               hint: "the forward pass supports Qwen3-VL and Qwen3-VL-MoE configs")
        }
        let spec: ModelSpec
        do { spec = try ModelSpec(json: json) } catch let e as ModelSpecError {
            throw ForwardError(.config, e.summary, file: e.file, key: e.key, hint: e.hint, underlying: e)
        }
        try self.init(spec: spec)
    }

    /// The forward pass's model from a validated spec.
    public init(spec: ModelSpec) throws {
        text = try TextConfig(spec.text)
        vision = try spec.vision.map { try VisionConfig($0) }
        tieWordEmbeddings = spec.tieWordEmbeddings
        imageTokenId = spec.imageTokenId ?? 151655
        videoTokenId = spec.videoTokenId ?? 151656
        visionStartTokenId = spec.visionStartTokenId ?? 151652
        visionEndTokenId = spec.visionEndTokenId ?? 151653
    }

    /// Reads and parses a config.json file.
    public init(configPath: String) throws {
        let json: JSONValue
        do { json = try ModelSpec.readJSON(configPath) } catch let e as ModelSpecError {
            throw ForwardError(.config, e.summary, file: configPath, key: e.key, hint: e.hint, underlying: e.underlying ?? e)
        }
        do {
            try self.init(json: json)
        } catch var e as ForwardError {
            e.file = configPath
            throw e
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

    init(_ s: TextSpec) throws {
        vocabSize = s.vocabSize
        hiddenSize = s.hiddenSize
        intermediateSize = s.intermediateSize
        numLayers = s.numLayers
        numHeads = s.numAttentionHeads
        numKVHeads = s.numKeyValueHeads
        headDim = s.headDim
        rmsNormEps = Float(s.rmsNormEps)
        attentionBias = s.attentionBias
        guard s.hiddenAct == "silu" else {
            throw ForwardError(.config, "text hidden_act '\(s.hiddenAct)' is not supported (only silu)", key: "text_config.hidden_act")
        }
        ropeTheta = s.ropeTheta
        guard s.ropeType == "default" else {
            throw ForwardError(.config, "rope_type '\(s.ropeType)' is not supported (only default)", key: "text_config.\(s.ropeKey).rope_type")
        }
        mropeSection = s.mropeSection ?? [24, 20, 20]
        moe = s.moe.map(MoEConfig.init)
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

    init(_ s: MoESpec) {
        numExperts = s.numExperts
        topK = s.topK
        intermediateSize = s.intermediateSize
        decoderSparseStep = s.decoderSparseStep
        mlpOnlyLayers = s.mlpOnlyLayers
        normTopKProb = s.normTopKProb ?? true
    }
}

/// `vision_config` of Qwen3-VL: the validated `VisionSpec` (every field and default shared with the converter)
/// plus what only the forward pass needs.
@dynamicMemberLookup
public struct VisionConfig: Sendable {
    public let spec: VisionSpec
    /// The vision blocks' MLP activation (`gelu_pytorch_tanh` -> tanh, `gelu` -> exact).
    public let blockActivation: GELUKind

    public subscript<T>(dynamicMember field: KeyPath<VisionSpec, T>) -> T { spec[keyPath: field] }

    /// Elements of one flattened input patch (C·T·P·P).
    public var patchElements: Int { spec.inChannels * spec.temporalPatchSize * spec.patchSize * spec.patchSize }
    /// Width of a merged token before the merger MLP (m²·Hv).
    public var mergedHidden: Int { spec.mergedHiddenSize }

    init(_ s: VisionSpec) throws {
        spec = s
        switch s.hiddenAct {
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": blockActivation = .tanh
        case "gelu": blockActivation = .exact
        default:
            throw ForwardError(.config, "vision hidden_act '\(s.hiddenAct)' is not supported", key: "vision_config.hidden_act")
        }
    }
}
