/// Reads the vision tower stored under transformers' module names (`patch_embed`, `pos_embed`,
/// `blocks.{b}.attn.qkv`, `merger.norm`, `deepstack_merger_list.{k}.norm`...).
///
/// Used with prefix `model.visual.` by `HFWeights` and with prefix `vision_model.` by `MegatronWeights`
/// for Megatron-Bridge 0.3.x checkpoints, whose Megatron vision tower IS transformers' module.
struct HFVisionReader {
    let table: TensorTable
    let prefix: String
    let config: VisionConfig

    func patchEmbed() throws -> LinearWeights {
        try Self.patchEmbed(table, prefix: prefix, config)
    }

    func positionTable() throws -> [Float] {
        try table.floats(prefix + "pos_embed.weight", shape: [config.numPositionEmbeddings, config.hiddenSize])
    }

    func block(_ b: Int) throws -> VisionBlockWeights {
        try ForwardError.checkIndex(b, below: config.depth, "vision block")
        let p = "\(prefix)blocks.\(b)."
        let hv = config.hiddenSize, fv = config.intermediateSize
        return VisionBlockWeights(
            norm1: try layerNorm(p + "norm1", hv),
            qkv: try linear(p + "attn.qkv", out: 3 * hv, in: hv),
            proj: try linear(p + "attn.proj", out: hv, in: hv),
            norm2: try layerNorm(p + "norm2", hv),
            fc1: try linear(p + "mlp.linear_fc1", out: fv, in: hv),
            fc2: try linear(p + "mlp.linear_fc2", out: hv, in: fv))
    }

    func merger() throws -> MergerWeights {
        try mergerWeights(prefix + "merger.", normWidth: config.hiddenSize)
    }

    func deepstackMerger(_ k: Int) throws -> MergerWeights {
        try ForwardError.checkIndex(k, below: config.deepstackVisualIndexes.count, "deepstack merger")
        return try mergerWeights("\(prefix)deepstack_merger_list.\(k).", normWidth: config.mergedHidden)
    }

    private func mergerWeights(_ p: String, normWidth: Int) throws -> MergerWeights {
        let mh = config.mergedHidden
        return MergerWeights(norm: try layerNorm(p + "norm", normWidth),
                             fc1: try linear(p + "linear_fc1", out: mh, in: mh),
                             fc2: try linear(p + "linear_fc2", out: config.outHiddenSize, in: mh))
    }

    private func layerNorm(_ name: String, _ width: Int) throws -> NormWeights {
        NormWeights(weight: try table.floats(name + ".weight", shape: [width]),
                    bias: try table.floats(name + ".bias", shape: [width]))
    }

    private func linear(_ name: String, out: Int, in inF: Int) throws -> LinearWeights {
        LinearWeights(weight: try table.floats(name + ".weight", shape: [out, inF]),
                      bias: try table.floats(name + ".bias", shape: [out]), outFeatures: out, inFeatures: inF)
    }

    /// The Conv3d kernel [Hv, C, T, P, P] read as the matrix [Hv, C·T·P·P] (its row-major flattening
    /// matches the (C, T, P, P) order of a pixel_values row), plus the bias. Both formats store the
    /// patch embedding under `<prefix>patch_embed.proj.*`.
    static func patchEmbed(_ table: TensorTable, prefix: String, _ c: VisionConfig) throws -> LinearWeights {
        let shape = [c.hiddenSize, c.inChannels, c.temporalPatchSize, c.patchSize, c.patchSize]
        return LinearWeights(weight: try table.floats(prefix + "patch_embed.proj.weight", shape: shape),
                             bias: try table.floats(prefix + "patch_embed.proj.bias", shape: [c.hiddenSize]),
                             outFeatures: c.hiddenSize, inFeatures: c.patchElements)
    }
}
