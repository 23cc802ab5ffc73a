/// The Qwen3-VL vision tower: Conv3d patch embedding (one GEMM), interpolated learned positions, pre-norm
/// blocks with 2-D rotary attention inside each frame, the final merger, and the DeepStack mergers on the
/// outputs of blocks `deepstack_visual_indexes`.
struct VisionEncoder {
    let config: VisionConfig
    let weights: ModelWeights
    /// Activation between the mergers' fc1 and fc2 (blocks always use the config's `hidden_act`).
    let mergerGELU: GELUKind

    struct Output {
        /// [tokens, H]: replaces the image-token embeddings.
        var embeddings: [Float]
        /// Per DeepStack level, [tokens, H].
        var deepstack: [[Float]]
    }

    func forward(pixelValues: [Float], grids: [[Int]], trace: ForwardTrace?) throws -> Output {
        let v = config, hv = v.hiddenSize, m = v.spatialMergeSize
        for g in grids {
            guard g.count == 3, g.allSatisfy({ $0 > 0 }), g[1] % m == 0, g[2] % m == 0 else {
                throw ForwardError(.input, "image grid \(g) must be positive with h and w divisible by the merge size \(m)")
            }
        }
        let p = grids.reduce(0) { $0 + $1[0] * $1[1] * $1[2] }
        guard pixelValues.count == p * v.patchElements else {
            throw ForwardError(.input, "pixel_values has \(pixelValues.count) values; the grids need \(p) patches of \(v.patchElements)")
        }

        var x = try weights.patchEmbed().apply(pixelValues, rows: p)
        trace.record("vision.patch_embed_output", [p, hv], x)
        let interp = PositionInterpolation(grids: grids, side: v.gridSide, merge: m)
        trace.record("vision.pos_interp_indices", [p, 4], interp.indices.map(Float.init))
        trace.record("vision.pos_interp_weights", [p, 4], interp.weights)
        let pos = interp.embed(table: try weights.positionTable(), width: hv)
        trace.record("vision.pos_embeds", [p, hv], pos)
        for i in x.indices { x[i] += pos[i] }
        trace.record("vision.blocks_input", [p, hv], x)

        let rotary = VisionRotary(grids: grids, config: v)
        trace.record("vision.rope_cos", [p, v.headDim], rotary.cos)
        trace.record("vision.rope_sin", [p, v.headDim], rotary.sin)
        // Attention never crosses a frame: one segment per (image, frame).
        var segments = [Range<Int>](), start = 0
        for g in grids {
            for _ in 0..<g[0] {
                segments.append(start..<(start + g[1] * g[2]))
                start += g[1] * g[2]
            }
        }

        var deepstack = [[Float]](repeating: [], count: v.deepstackVisualIndexes.count)
        for b in 0..<v.depth {
            x = try block(x, patches: p, weights: try weights.visionBlock(b), rotary: rotary, segments: segments)
            trace.record("vision.block\(b).output", [p, hv], x)
            if let k = v.deepstackVisualIndexes.firstIndex(of: b) {
                deepstack[k] = PatchMerger.forward(x, patches: p, weights: try weights.deepstackMerger(k), postShuffleNorm: true,
                                                   config: v, gelu: mergerGELU)
                trace.record("vision.deepstack\(k).output", [p / (m * m), v.outHiddenSize], deepstack[k])
            }
        }
        let merged = PatchMerger.forward(x, patches: p, weights: try weights.merger(), postShuffleNorm: false, config: v, gelu: mergerGELU)
        trace.record("vision.merger_output", [p / (m * m), v.outHiddenSize], merged)
        return Output(embeddings: merged, deepstack: deepstack)
    }

    private func block(_ x: [Float], patches p: Int, weights w: VisionBlockWeights, rotary: VisionRotary,
                       segments: [Range<Int>]) throws -> [Float] {
        let v = config, hv = v.hiddenSize, nh = v.numHeads, hd = v.headDim
        let normed = Norms.layer(x, width: hv, weight: w.norm1.weight, bias: w.norm1.bias ?? [Float](repeating: 0, count: hv), eps: 1e-6)
        let qkv = w.qkv.apply(normed, rows: p)                       // [P, 3·Hv], columns [Q | K | V]
        var q = Layout.columns(qkv, rows: p, width: 3 * hv, from: 0, count: hv)
        var k = Layout.columns(qkv, rows: p, width: 3 * hv, from: hv, count: hv)
        let vv = Layout.columns(qkv, rows: p, width: 3 * hv, from: 2 * hv, count: hv)
        Rotary.apply(&q, rows: p, heads: nh, headDim: hd, cos: rotary.cos, sin: rotary.sin)
        Rotary.apply(&k, rows: p, heads: nh, headDim: hd, cos: rotary.cos, sin: rotary.sin)
        let a = Attention.attend(q: q, k: k, v: vv, rows: p, heads: nh, kvHeads: nh, headDim: hd, causal: false, segments: segments)
        var y = x
        let attn = w.proj.apply(a, rows: p)
        for i in y.indices { y[i] += attn[i] }
        let normed2 = Norms.layer(y, width: hv, weight: w.norm2.weight, bias: w.norm2.bias ?? [Float](repeating: 0, count: hv), eps: 1e-6)
        var hidden = w.fc1.apply(normed2, rows: p)
        Activations.gelu(&hidden, v.blockActivation)
        let mlp = w.fc2.apply(hidden, rows: p)
        for i in y.indices { y[i] += mlp[i] }
        return y
    }
}
