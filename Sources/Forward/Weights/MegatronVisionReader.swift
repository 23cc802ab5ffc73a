/// How a Megatron checkpoint stores the Qwen3-VL vision tower.
public enum MegatronVisionLayout: String, Sendable {
    /// Detect from the keys.
    case auto
    /// Megatron-Bridge 0.3.x: transformers' vision module under `vision_model.` (`vision_model.blocks.<b>.attn.qkv.weight`,
    /// `vision_model.merger.norm`, `vision_model.deepstack_merger_list.<k>.norm`, per-item keys).
    case hf
    /// Megatron-Bridge ≥ 0.4: a Megatron TransformerBlock (`vision_model.decoder.layers.*`, per-head interleaved
    /// qkv, norms fused into `linear_qkv` / `linear_fc1`), `vision_model.merger.patch_norm`, and
    /// `vision_model.decoder.deepstack_merger_list.*` stacked over the DeepStack axis.
    case megatron

    /// The layout the keys show, or nil when there is no vision tower.
    static func detect(keys: Set<String>) -> MegatronVisionLayout? {
        if keys.contains(where: { $0.hasPrefix("vision_model.decoder.") || $0.hasPrefix("vision_model.merger.patch_norm.") }) {
            return .megatron
        }
        if keys.contains(where: { $0.hasPrefix("vision_model.blocks.") || $0.hasPrefix("vision_model.merger.norm.") }) {
            return .hf
        }
        return nil
    }
}

/// Reads the vision tower of a Megatron checkpoint in either layout into the canonical weights.
struct MegatronVisionReader {
    let table: TensorTable
    let config: VisionConfig
    let layout: MegatronVisionLayout
    private let prefix = "vision_model."

    init(table: TensorTable, config: VisionConfig, layout: MegatronVisionLayout) {
        self.table = table
        self.config = config
        self.layout = layout
    }

    private var hfNames: HFVisionReader { HFVisionReader(table: table, prefix: prefix, config: config) }
    private var blocks: MegatronStack { MegatronStack(table: table, prefix: prefix + "decoder.layers", count: config.depth) }
    private var deepstack: MegatronStack {
        MegatronStack(table: table, prefix: prefix + "decoder.deepstack_merger_list", count: config.deepstackVisualIndexes.count)
    }

    func patchEmbed() throws -> LinearWeights { try HFVisionReader.patchEmbed(table, prefix: prefix, config) }

    func positionTable() throws -> [Float] {
        try table.floats(prefix + "pos_embed.weight", shape: [config.numPositionEmbeddings, config.hiddenSize])
    }

    func block(_ b: Int) throws -> VisionBlockWeights {
        if layout == .hf { return try hfNames.block(b) }
        try ForwardError.checkIndex(b, below: config.depth, "vision block")
        let hv = config.hiddenSize, fv = config.intermediateSize, nh = config.numHeads, hd = config.headDim
        let s = blocks
        // The vision attention has num_query_groups == num_heads: each "group" is one head [q_h; k_h; v_h].
        let w = MegatronQKV.split(try s.floats("self_attention.linear_qkv.weight", b, shape: [3 * hv, hv]),
                                  heads: nh, groups: nh, headDim: hd, cols: hv)
        let bias = MegatronQKV.split(try s.floats("self_attention.linear_qkv.bias", b, shape: [3 * hv]),
                                     heads: nh, groups: nh, headDim: hd, cols: 1)
        func linear(_ name: String, _ out: Int, _ inF: Int) throws -> LinearWeights {
            LinearWeights(weight: try s.floats(name + ".weight", b, shape: [out, inF]), bias: try s.floats(name + ".bias", b, shape: [out]),
                          outFeatures: out, inFeatures: inF)
        }
        func norm(_ name: String) throws -> NormWeights {
            NormWeights(weight: try s.floats(name + ".layer_norm_weight", b, shape: [hv]),
                        bias: try s.floats(name + ".layer_norm_bias", b, shape: [hv]))
        }
        return VisionBlockWeights(
            norm1: try norm("self_attention.linear_qkv"),
            qkv: LinearWeights(weight: w.q + w.k + w.v, bias: bias.q + bias.k + bias.v, outFeatures: 3 * hv, inFeatures: hv),
            proj: try linear("self_attention.linear_proj", hv, hv),
            norm2: try norm("mlp.linear_fc1"),
            fc1: try linear("mlp.linear_fc1", fv, hv),
            fc2: try linear("mlp.linear_fc2", hv, fv))
    }

    func merger() throws -> MergerWeights {
        if layout == .hf { return try hfNames.merger() }
        let p = prefix + "merger."
        let mh = config.mergedHidden, hv = config.hiddenSize
        func linear(_ name: String, _ out: Int, _ inF: Int) throws -> LinearWeights {
            LinearWeights(weight: try table.floats(p + name + ".weight", shape: [out, inF]),
                          bias: try table.floats(p + name + ".bias", shape: [out]), outFeatures: out, inFeatures: inF)
        }
        return MergerWeights(norm: NormWeights(weight: try table.floats(p + "patch_norm.weight", shape: [hv]),
                                               bias: try table.floats(p + "patch_norm.bias", shape: [hv])),
                             fc1: try linear("linear_fc1", mh, mh), fc2: try linear("linear_fc2", config.outHiddenSize, mh))
    }

    func deepstackMerger(_ k: Int) throws -> MergerWeights {
        if layout == .hf { return try hfNames.deepstackMerger(k) }
        try ForwardError.checkIndex(k, below: config.deepstackVisualIndexes.count, "deepstack merger")
        let s = deepstack, mh = config.mergedHidden
        func linear(_ name: String, _ out: Int, _ inF: Int) throws -> LinearWeights {
            LinearWeights(weight: try s.floats(name + ".weight", k, shape: [out, inF]), bias: try s.floats(name + ".bias", k, shape: [out]),
                          outFeatures: out, inFeatures: inF)
        }
        return MergerWeights(norm: NormWeights(weight: try s.floats("patch_norm.weight", k, shape: [mh]),
                                               bias: try s.floats("patch_norm.bias", k, shape: [mh])),
                             fc1: try linear("linear_fc1", mh, mh), fc2: try linear("linear_fc2", config.outHiddenSize, mh))
    }
}
