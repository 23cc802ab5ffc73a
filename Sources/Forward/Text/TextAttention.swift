/// Self-attention of a text layer: q/k/v projections, per-head RMSNorm of q and k, MRoPE, causal GQA
/// attention, output projection. With a cache, the rows' keys and values are appended to layer `index`'s
/// and the rows attend over every cached row (the prompt's pass, with nothing cached yet, computes exactly
/// what the uncached pass does).
enum TextAttention {
    static func forward(_ x: [Float], rows s: Int, layer w: StreamedTextLayer, rotary: TextRotary, config t: TextConfig,
                        cache: KVCache? = nil, index: Int = 0) throws -> [Float] {
        let hd = t.headDim
        var q = try w.q.apply(x, rows: s)
        var k = try w.k.apply(x, rows: s)
        let v = try w.v.apply(x, rows: s)
        // q_norm / k_norm act on each head vector (the rows of a [S·heads, hd] view), before the rotation.
        q = Norms.rms(q, width: hd, weight: w.qNorm, eps: t.rmsNormEps)
        k = Norms.rms(k, width: hd, weight: w.kNorm, eps: t.rmsNormEps)
        Rotary.apply(&q, rows: s, heads: t.numHeads, headDim: hd, cos: rotary.cos, sin: rotary.sin)
        Rotary.apply(&k, rows: s, heads: t.numKVHeads, headDim: hd, cos: rotary.cos, sin: rotary.sin)
        let a: [Float]
        if let cache, cache.rows(index) > 0 {
            let past = cache.rows(index)
            cache.append(layer: index, keys: k, values: v)
            a = Attention.attendCached(q: q, k: cache.keys[index], v: cache.values[index], rows: s, past: past,
                                       heads: t.numHeads, kvHeads: t.numKVHeads, headDim: hd)
        } else {
            cache?.append(layer: index, keys: k, values: v)
            a = Attention.attend(q: q, k: k, v: v, rows: s, heads: t.numHeads, kvHeads: t.numKVHeads, headDim: hd,
                                 causal: true, segments: [0..<s])
        }
        return try w.o.apply(a, rows: s)
    }
}
