/// The text decoder: pre-norm layers (RMSNorm → attention → residual, RMSNorm → MLP → residual), with the
/// DeepStack features added to the image-token rows after layers 0..<D, then the final RMSNorm.
/// Weights are read one layer at a time and dropped after use.
struct TextDecoder {
    let config: TextConfig
    let weights: ModelWeights

    /// - Parameters:
    ///   - hidden: input embeddings [S, H] (image rows already replaced by the merger output).
    ///   - deepstack: per DeepStack level, [imageRows.count, H].
    ///   - cache: when given, each layer's keys and values are appended to it and the rows attend over all
    ///     cached rows (generation).
    /// - Returns: the final-normed hidden states [S, H].
    func forward(_ hidden: [Float], rows s: Int, rotary: TextRotary, imageRows: [Int], deepstack: [[Float]],
                 trace: ForwardTrace?, cache: KVCache? = nil) throws -> [Float] {
        let h = config.hiddenSize
        var x = hidden
        for l in 0..<config.numLayers {
            let key = "text.layer\(l)"
            trace.record(key + ".input", [1, s, h], x)
            let w = try weights.decoderLayer(l)
            let attn = try TextAttention.forward(Norms.rms(x, width: h, weight: w.inputNorm, eps: config.rmsNormEps),
                                                 rows: s, layer: w, rotary: rotary, config: config,
                                                 cache: cache, index: l)
            trace.record(key + ".attn_output", [1, s, h], attn)
            for i in x.indices { x[i] += attn[i] }
            let normed = Norms.rms(x, width: h, weight: w.postAttentionNorm, eps: config.rmsNormEps)
            let mlp: [Float]
            switch w.mlp {
            case let .dense(gate, up, down):
                mlp = try TextMLP.gated(normed, rows: s, gate: gate, up: up, down: down)
            case let .moe(m):
                guard let moeConfig = config.moe else { throw ForwardError(.config, "MoE weights for a dense config") }
                mlp = try TextMLP.moe(normed, rows: s, hidden: h, m, config: moeConfig, trace: trace, key: key)
            }
            trace.record(key + ".mlp_output", [1, s, h], mlp)
            for i in x.indices { x[i] += mlp[i] }
            trace.record(key + ".output", [1, s, h], x)
            if l < deepstack.count {
                let feature = deepstack[l]
                for (n, r) in imageRows.enumerated() {
                    for c in 0..<h { x[r * h + c] += feature[n * h + c] }
                }
            }
        }
        trace.record("text.final_norm_input", [1, s, h], x)
        let out = Norms.rms(x, width: h, weight: try weights.finalNorm(), eps: config.rmsNormEps)
        trace.record("text.final_norm_output", [1, s, h], out)
        return out
    }
}
