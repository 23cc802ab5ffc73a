import Foundation

/// Scaled dot-product attention with grouped KV heads, per head and per segment, on BLAS.
enum Attention {
    /// `q` is [rows, heads·hd], `k`/`v` are [rows, kvHeads·hd]. Tokens attend only inside their segment
    /// (one segment for text; one per image frame for vision), causally when `causal`.
    /// Returns [rows, heads·hd].
    static func attend(q: [Float], k: [Float], v: [Float], rows: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                       causal: Bool, segments: [Range<Int>]) -> [Float] {
        precondition(q.count == rows * heads * hd && k.count == rows * kvHeads * hd && v.count == k.count)
        precondition(heads % kvHeads == 0)
        let group = heads / kvHeads
        let ldq = heads * hd, ldk = kvHeads * hd
        let scale = Float(1 / Double(hd).squareRoot())
        var out = [Float](repeating: 0, count: rows * heads * hd)
        // Every (segment, head) pair is independent and writes its own block of `out`: spread them over the
        // threads, each with a single-threaded GEMM and its own score buffer.
        let segs = segments.filter { !$0.isEmpty }
        let longest = segs.map(\.count).max() ?? 0
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        let qBase = qp.baseAddress!, kBase = kp.baseAddress!, vBase = vp.baseAddress!, oBase = op.baseAddress!
                        BLAS.singleThreaded {
                            WorkQueue.run(tasks: segs.count * heads) { next in
                                let scores = UnsafeMutablePointer<Float>.allocate(capacity: longest * longest)
                                defer { scores.deallocate() }
                                while let t = next() {
                                    let seg = segs[t / heads], h = t % heads
                                    let n = seg.count, kvh = h / group
                                    BLAS.gemm(transB: true, m: n, n: n, k: hd, alpha: scale,
                                              a: qBase + seg.lowerBound * ldq + h * hd, lda: ldq,
                                              b: kBase + seg.lowerBound * ldk + kvh * hd, ldb: ldk,
                                              c: scores, ldc: n)
                                    softmaxRows(scores, n: n, causal: causal)
                                    BLAS.gemm(m: n, n: hd, k: n, a: UnsafePointer(scores), lda: n,
                                              b: vBase + seg.lowerBound * ldk + kvh * hd, ldb: ldk,
                                              c: oBase + seg.lowerBound * ldq + h * hd, ldc: ldq)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Softmax of each row of an n×n score matrix in place; with `causal`, entries right of the
    /// diagonal are masked to zero probability.
    static func softmaxRows(_ s: UnsafeMutablePointer<Float>, n: Int, causal: Bool) {
        softmaxRows(s, rows: n, stride: n) { causal ? $0 + 1 : n }
    }

    /// Softmax in place of each of `rows` rows (`stride` floats apart) over its first `visible(i)`
    /// entries; the entries after them (masked positions) get zero probability. Sums in Double.
    static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, stride n: Int, visible: (Int) -> Int) {
        for i in 0..<rows {
            let row = s + i * n
            let width = visible(i)
            var mx = -Float.infinity
            for j in 0..<width { mx = max(mx, row[j]) }
            var sum = 0.0
            for j in 0..<width { let e = expf(row[j] - mx); row[j] = e; sum += Double(e) }
            let inv = Float(1 / sum)
            for j in 0..<width { row[j] *= inv }
            for j in width..<n { row[j] = 0 }
        }
    }
}
