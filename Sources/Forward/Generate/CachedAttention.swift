import Foundation

extension Attention {
    /// Causal attention of `rows` new query rows against `past + rows` cached key/value rows: new row i
    /// sees keys 0…past+i. `q` is [rows, heads·hd]; `k`/`v` are [past+rows, kvHeads·hd].
    static func attendCached(q: [Float], k: [Float], v: [Float], rows: Int, past: Int, heads: Int, kvHeads: Int,
                             headDim hd: Int) -> [Float] {
        let total = past + rows
        precondition(q.count == rows * heads * hd && k.count == total * kvHeads * hd && v.count == k.count)
        let group = heads / kvHeads
        let ldq = heads * hd, ldk = kvHeads * hd
        let scale = Float(1 / Double(hd).squareRoot())
        var out = [Float](repeating: 0, count: rows * heads * hd)
        var scores = [Float](repeating: 0, count: rows * total)
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        scores.withUnsafeMutableBufferPointer { sp in
                            let s = sp.baseAddress!
                            for h in 0..<heads {
                                let kvh = h / group
                                BLAS.gemm(transB: true, m: rows, n: total, k: hd, alpha: scale,
                                          a: qp.baseAddress! + h * hd, lda: ldq, b: kp.baseAddress! + kvh * hd, ldb: ldk,
                                          c: s, ldc: total)
                                // Causal over the cache: new row i sees the past and itself.
                                softmaxRows(s, rows: rows, stride: total) { past + $0 + 1 }
                                BLAS.gemm(m: rows, n: hd, k: total, a: UnsafePointer(s), lda: total,
                                          b: vp.baseAddress! + kvh * hd, ldb: ldk, c: op.baseAddress! + h * hd, ldc: ldq)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
