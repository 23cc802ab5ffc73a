import ModelSpec

/// The language-model configuration Megatron needs, with the field names and defaults of Megatron-Bridge's
/// `Qwen3VLModelProvider` / `Qwen3VLMoEModelProvider` (and `Qwen3ModelProvider` / `Qwen3MoEModelProvider`
/// for the text-only families).
public struct LanguageProvider: Equatable, Sendable {
    public var numLayers: Int
    public var hiddenSize: Int
    /// The dense MLP width (`intermediate_size`). Kept apart from `moeFfnHiddenSize` (Megatron-Bridge #3817).
    public var ffnHiddenSize: Int
    public var numAttentionHeads: Int
    /// `num_key_value_heads`.
    public var numQueryGroups: Int
    /// `head_dim` (falls back to hidden / heads when the config has none).
    public var kvChannels: Int
    public var vocabSize: Int
    /// `max_position_embeddings`.
    public var seqLength: Int
    public var layernormEpsilon: Double
    public var initMethodStd: Double?
    public var attentionDropout: Double
    /// From the top-level `tie_word_embeddings` (the text config's default is wrong for Qwen3-VL).
    public var shareEmbeddingsAndOutputWeights: Bool
    /// `attention_bias`.
    public var addQKVBias: Bool
    /// `rope_theta` (5e6 for Qwen3-VL).
    public var rotaryBase: Double
    public var mropeSection: [Int]?
    public var mropeInterleaved: Bool
    public var hiddenAct: String
    /// Megatron-LM pads the vocab to a multiple of this × TP (only with `--pad-vocab`).
    public var makeVocabSizeDivisibleBy: Int
    // MoE
    public var numMoeExperts: Int?
    public var moeRouterTopk: Int?
    public var moeFfnHiddenSize: Int?
    public var moeAuxLossCoeff: Double?
    public var normTopkProb: Bool?
    public var decoderSparseStep: Int
    public var mlpOnlyLayers: [Int]
    // Token ids
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var visionStartTokenId: Int?
    public var visionEndTokenId: Int?
    public var imageTokenId: Int?
    public var videoTokenId: Int?
    /// The dtype the HF config declares (`torch_dtype` / `dtype`), e.g. "bfloat16".
    public var paramsDtype: String?

    public var isMoE: Bool { (numMoeExperts ?? 0) > 0 }

    /// Whether layer `l` has a routed-expert MLP, exactly as transformers decides it.
    public func isMoELayer(_ l: Int) -> Bool {
        guard let e = numMoeExperts, e > 0 else { return false }
        return !mlpOnlyLayers.contains(l) && (l + 1) % max(1, decoderSparseStep) == 0
    }

    /// Whether every decoder layer has the same parameters, so torch_dist stores them stacked under one key
    /// with a leading layer axis. Megatron keeps per-layer keys otherwise (moe_layer_freq lists).
    public var homogeneousLayers: Bool {
        let kinds = Set((0..<numLayers).map(isMoELayer))
        return kinds.count <= 1
    }

    public var moeLayers: [Int] { (0..<numLayers).filter(isMoELayer) }
    public var denseLayers: [Int] { (0..<numLayers).filter { !isMoELayer($0) } }
}

/// The vision tower's configuration (`vision_config`), as Megatron-Bridge's `get_vision_model_config` reads it:
/// exactly the validated `VisionSpec`, so the converter and the forward pass read one set of fields and defaults.
public typealias VisionProvider = VisionSpec
