import Foundation

/// The MLP of a text layer: a dense SwiGLU, or a routed mixture of SwiGLU experts.
enum TextMLP {
    /// `down(silu(gate·x) ⊙ up·x)` for x [rows, H].
    static func gated(_ x: [Float], rows: Int, hidden h: Int, _ w: GatedMLPWeights) -> [Float] {
        let f = w.intermediate
        let gate = BLAS.linear(x, rows: rows, weight: w.gate, inFeatures: h, outFeatures: f)
        let up = BLAS.linear(x, rows: rows, weight: w.up, inFeatures: h, outFeatures: f)
        return BLAS.linear(Activations.swiglu(gate: gate, up: up), rows: rows, weight: w.down, inFeatures: f, outFeatures: h)
    }

    /// The sparse MoE block: router logits → softmax (fp32) → top-k → renormalise (norm_topk_prob) →
    /// each expert runs on the tokens routed to it, and its output is added with the routing weight.
    static func moe(_ x: [Float], rows s: Int, hidden h: Int, _ w: MoEWeights, config m: MoEConfig,
                    trace: ForwardTrace?, key: String) throws -> [Float] {
        let e = w.numExperts, k = m.topK
        let logits = BLAS.linear(x, rows: s, weight: w.router, inFeatures: h, outFeatures: e)
        var chosen = [[Int]](repeating: [], count: s)
        var weights = [[Float]](repeating: [], count: s)
        for r in 0..<s {
            let row = Array(logits[(r * e)..<((r + 1) * e)])
            let mx = row.max() ?? 0
            let ex = row.map { expf($0 - mx) }
            let total = ex.reduce(0, +)
            let probs = ex.map { $0 / total }
            // Top-k, larger first; ties go to the lower expert index.
            let order = probs.indices.sorted { probs[$0] != probs[$1] ? probs[$0] > probs[$1] : $0 < $1 }
            chosen[r] = Array(order.prefix(k))
            var top = chosen[r].map { probs[$0] }
            if m.normTopKProb {
                let sum = top.reduce(0, +)
                top = top.map { $0 / sum }
            }
            weights[r] = top
        }
        trace.record(key + ".router_logits", [s, e], logits)
        trace.record(key + ".router_topk_weights", [s, k], weights.flatMap { $0 })
        trace.record(key + ".router_topk_experts", [s, k], chosen.flatMap { $0.map(Float.init) })

        var out = [Float](repeating: 0, count: s * h)
        for expert in 0..<e {
            var tokens = [Int](), scale = [Float]()
            for r in 0..<s { if let j = chosen[r].firstIndex(of: expert) { tokens.append(r); scale.append(weights[r][j]) } }
            if tokens.isEmpty { continue }
            var sub = [Float]()
            sub.reserveCapacity(tokens.count * h)
            for r in tokens { sub += x[(r * h)..<((r + 1) * h)] }
            let y = gated(sub, rows: tokens.count, hidden: h, try w.expert(expert))
            for (n, r) in tokens.enumerated() {
                for c in 0..<h { out[r * h + c] += scale[n] * y[n * h + c] }
            }
        }
        return out
    }
}
