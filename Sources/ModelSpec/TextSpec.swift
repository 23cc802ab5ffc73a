import TensorCore

/// The text decoder's fields (`text_config`, or the top level of a text-only config), validated.
public struct TextSpec: Equatable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    /// The dense MLP width (`intermediate_size`; 0 when absent).
    public var intermediateSize: Int
    public var numLayers: Int
    public var numAttentionHeads: Int
    /// `num_key_value_heads` (default: the attention heads).
    public var numKeyValueHeads: Int
    /// `head_dim` (default: hidden / heads).
    public var headDim: Int
    /// `max_position_embeddings` (default 2048).
    public var maxPositionEmbeddings: Int
    /// `rms_norm_eps` (default 1e-6).
    public var rmsNormEps: Double
    public var initializerRange: Double?
    public var attentionDropout: Double
    public var attentionBias: Bool
    /// `hidden_act` (default silu).
    public var hiddenAct: String
    /// `rope_theta` or `rope_parameters.rope_theta` (default 5e6 for Qwen3-VL, as transformers 4.57's
    /// `Qwen3VLTextConfig` and Megatron-Bridge's provider; 1e4 for text-only Qwen3).
    public var ropeTheta: Double
    /// `rope_type` (or `type`) of the rope parameters (default "default").
    public var ropeType: String
    /// The rope parameters' key (`rope_parameters` in transformers 5, `rope_scaling` in 4.57), for errors.
    public var ropeKey: String
    /// Frequencies per (t, h, w) section; 3 entries summing to head_dim / 2. Defaults to [24, 20, 20] for a
    /// vision-language model; nil for a text-only one that declares none.
    public var mropeSection: [Int]?
    public var mropeInterleaved: Bool
    /// `num_experts` / `num_local_experts` as declared (0 or nil: dense).
    public var declaredExperts: Int?
    /// Present when the model has routed experts.
    public var moe: MoESpec?
    /// MoE fields a dense config may still declare (recorded in the provider as they are).
    public var declaredTopK: Int?
    public var declaredMoEIntermediateSize: Int?
    public var routerAuxLossCoef: Double?
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    init(_ r: ConfigFields, multimodal: Bool) throws {
        vocabSize = try r.int("vocab_size", in: 1...Limits.vocabSize)
        hiddenSize = try r.int("hidden_size", in: 1...Limits.hiddenSize)
        intermediateSize = try r.int("intermediate_size", in: 0...Limits.ffnSize, default: 0)
        numLayers = try r.int("num_hidden_layers", in: 1...Limits.layers)
        numAttentionHeads = try r.int("num_attention_heads", in: 1...Limits.heads)
        numKeyValueHeads = try r.int("num_key_value_heads", in: 1...Limits.heads, default: numAttentionHeads)
        headDim = try r.int("head_dim", in: 1...Limits.headDim, default: max(1, hiddenSize / numAttentionHeads))
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw r.error("num_key_value_heads", "(\(numKeyValueHeads)) does not divide num_attention_heads (\(numAttentionHeads))")
        }
        guard headDim % 2 == 0 else { throw r.error("head_dim", "(\(headDim)) must be even (rotary embeddings pair dimensions)") }
        maxPositionEmbeddings = try r.int("max_position_embeddings", in: 1...Limits.contextLength, default: 2048)
        rmsNormEps = try r.optionalDouble("rms_norm_eps", in: 0...1) ?? 1e-6
        initializerRange = try r.optionalDouble("initializer_range", in: 0...1e6)
        attentionDropout = try r.optionalDouble("attention_dropout", in: 0...1) ?? 0
        attentionBias = try r.optionalBool("attention_bias") ?? false
        hiddenAct = try r.optionalString("hidden_act") ?? "silu"

        // Rope: transformers 5 `rope_parameters` carries theta; 4.57 keeps `rope_theta` beside `rope_scaling`.
        let rope = r.object("rope_parameters") ?? r.object("rope_scaling")
        ropeKey = r.object("rope_parameters") != nil ? "rope_parameters" : "rope_scaling"
        let positive = Double.leastNonzeroMagnitude...Double.greatestFiniteMagnitude
        ropeTheta = try r.optionalDouble("rope_theta", in: positive) ?? rope?.optionalDouble("rope_theta", in: positive)
            ?? (multimodal ? 5_000_000 : 10_000)
        ropeType = try rope?.optionalString("rope_type") ?? rope?.optionalString("type") ?? "default"
        let mrope = try rope?.optionalInts("mrope_section", in: 0...Limits.headDim, maxCount: 3)
        mropeSection = mrope ?? (multimodal ? [24, 20, 20] : nil)
        mropeInterleaved = try rope?.optionalBool("mrope_interleaved") ?? false
        if let m = mropeSection, m.count != 3 || m.reduce(0, +) != headDim / 2 {
            throw ModelSpecError(.config, "mrope_section \(m) must have 3 entries summing to head_dim/2 = \(headDim / 2)",
                                 key: r.path + ropeKey + ".mrope_section",
                                 hint: "mrope_section splits the rotary frequencies between time, height and width")
        }

        // MoE.
        declaredExperts = try r.optionalInt("num_experts", in: 0...Limits.experts)
            ?? r.optionalInt("num_local_experts", in: 0...Limits.experts)
        declaredTopK = try r.optionalInt("num_experts_per_tok", in: 1...Limits.experts)
        declaredMoEIntermediateSize = try r.optionalInt("moe_intermediate_size", in: 1...Limits.ffnSize)
        routerAuxLossCoef = try r.optionalDouble("router_aux_loss_coef")
        let experts = declaredExperts ?? 0
        moe = experts > 0 ? try MoESpec(r, numExperts: experts, numLayers: numLayers) : nil
        let id = 0...Limits.tokenId
        bosTokenId = try r.optionalInt("bos_token_id", in: id)
        eosTokenId = try r.optionalInt("eos_token_id", in: id)
    }

    /// Whether layer `layer` uses routed experts (transformers' rule: not in `mlp_only_layers`, and
    /// `(layer + 1) % decoder_sparse_step == 0`).
    public func isSparse(layer: Int) -> Bool {
        guard let moe else { return false }
        return !moe.mlpOnlyLayers.contains(layer) && (layer + 1) % moe.decoderSparseStep == 0
    }
}

/// The routed-expert fields of a MoE text config, validated.
public struct MoESpec: Equatable, Sendable {
    public var numExperts: Int
    /// `num_experts_per_tok`: 1 … numExperts.
    public var topK: Int
    /// `moe_intermediate_size`.
    public var intermediateSize: Int
    /// `decoder_sparse_step` (default 1).
    public var decoderSparseStep: Int
    /// `mlp_only_layers`: layer indices inside the decoder.
    public var mlpOnlyLayers: [Int]
    /// `norm_topk_prob` as declared (absent in transformers 5 configs, where it is always on).
    public var normTopKProb: Bool?

    init(_ r: ConfigFields, numExperts: Int, numLayers: Int) throws {
        self.numExperts = numExperts
        topK = try r.int("num_experts_per_tok", in: 1...Limits.experts)
        guard topK <= numExperts else {
            throw r.error("num_experts_per_tok", "(\(topK)) exceeds the \(numExperts) experts",
                          hint: "a token is routed to top-k of the experts, so k must not exceed their number")
        }
        intermediateSize = try r.int("moe_intermediate_size", in: 1...Limits.ffnSize)
        decoderSparseStep = try r.int("decoder_sparse_step", in: 1...Limits.layers, default: 1)
        mlpOnlyLayers = try r.optionalInts("mlp_only_layers", in: 0...(numLayers - 1), maxCount: numLayers) ?? []
        normTopKProb = try r.optionalBool("norm_topk_prob")
        let moeLayers = (0..<numLayers).filter { !mlpOnlyLayers.contains($0) && ($0 + 1) % decoderSparseStep == 0 }.count
        guard moeLayers * numExperts <= Limits.expertSlots else {
            throw r.error("num_experts", "(\(numExperts)) × \(moeLayers) MoE layers exceeds the limit of \(Limits.expertSlots) expert slots",
                          hint: "the caps on sizes read from files are listed in Docs/limits.md")
        }
    }
}
