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

    /// `down(silu(gate·x) ⊙ up·x)` with weights read on demand.
    static func gated(_ x: [Float], rows: Int, gate: StreamedLinear, up: StreamedLinear, down: StreamedLinear) throws -> [Float] {
        let g = try gate.apply(x, rows: rows)
        let u = try up.apply(x, rows: rows)
        return try down.apply(Activations.swiglu(gate: g, up: u), rows: rows)
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

        if let stored = w.stored {
            return try storedExperts(x, rows: s, hidden: h, stored, numExperts: e, chosen: chosen, weights: weights)
        }
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

    /// The experts of a MoE block from their stored matrices. Experts run in parallel, each on one thread
    /// with a single-threaded GEMM (a routed expert sees a handful of tokens: too little work to split),
    /// reading its weights into that thread's buffers in the stored orientation. Each expert's outputs go to
    /// their own rows of a results buffer; they are then added up in expert order, exactly as the
    /// sequential loop does, so the result does not depend on the scheduling.
    private static func storedExperts(_ x: [Float], rows s: Int, hidden h: Int, _ w: StoredExperts, numExperts e: Int,
                                      chosen: [[Int]], weights: [[Float]]) throws -> [Float] {
        precondition(w.hidden == h)
        let inter = w.intermediate, two = 2 * inter
        var tokens = [[Int]](repeating: [], count: e), scales = [[Float]](repeating: [], count: e)
        for r in 0..<s {
            for (j, ex) in chosen[r].enumerated() {
                tokens[ex].append(r)
                scales[ex].append(weights[r][j])
            }
        }
        let active = (0..<e).filter { !tokens[$0].isEmpty }
        var firstRow = [Int](), total = 0
        for ex in active { firstRow.append(total); total += tokens[ex].count }
        var ys = [Float](repeating: 0, count: total * h)
        try x.withUnsafeBufferPointer { xp in
            try ys.withUnsafeMutableBufferPointer { yp in
                let xBase = xp.baseAddress!, yBase = yp.baseAddress!
                try BLAS.singleThreaded {
                    try WorkQueue.run(tasks: active.count) { next in
                        let gateUp = UnsafeMutablePointer<Float>.allocate(capacity: two * h)
                        let down = UnsafeMutablePointer<Float>.allocate(capacity: inter * h)
                        let sub = UnsafeMutablePointer<Float>.allocate(capacity: s * h)
                        let gu = UnsafeMutablePointer<Float>.allocate(capacity: s * two)
                        let act = UnsafeMutablePointer<Float>.allocate(capacity: s * inter)
                        defer { for p in [gateUp, down, sub, gu, act] { p.deallocate() } }
                        while let t = next() {
                            let ex = active[t], rows = tokens[ex], n = rows.count
                            try FloatReader.serially { try w.read(ex, gateUp, down) }
                            for (k, r) in rows.enumerated() { (sub + k * h).update(from: xBase + r * h, count: h) }
                            let y = yBase + firstRow[t] * h
                            switch w.orientation {
                            case .inputMajor:
                                BLAS.gemm(m: n, n: two, k: h, a: sub, lda: h, b: gateUp, ldb: two, c: gu, ldc: two)
                            case .outputMajor:
                                BLAS.gemm(transB: true, m: n, n: two, k: h, a: sub, lda: h, b: gateUp, ldb: h, c: gu, ldc: two)
                            }
                            for k in 0..<n {
                                for j in 0..<inter { act[k * inter + j] = Activations.silu(gu[k * two + j]) * gu[k * two + inter + j] }
                            }
                            switch w.orientation {
                            case .inputMajor:
                                BLAS.gemm(m: n, n: h, k: inter, a: act, lda: inter, b: down, ldb: h, c: y, ldc: h)
                            case .outputMajor:
                                BLAS.gemm(transB: true, m: n, n: h, k: inter, a: act, lda: inter, b: down, ldb: inter, c: y, ldc: h)
                            }
                        }
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: s * h)
        for (t, ex) in active.enumerated() {
            for (k, r) in tokens[ex].enumerated() {
                let scale = scales[ex][k], row = (firstRow[t] + k) * h
                for c in 0..<h { out[r * h + c] += scale * ys[row + c] }
            }
        }
        return out
    }
}
