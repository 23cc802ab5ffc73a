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
                                for i in 0..<rows {
                                    let row = s + i * total, width = past + i + 1
                                    var mx = -Float.infinity
                                    for j in 0..<width { mx = max(mx, row[j]) }
                                    var sum = 0.0
                                    for j in 0..<width { let e = expf(row[j] - mx); row[j] = e; sum += Double(e) }
                                    let inv = Float(1 / sum)
                                    for j in 0..<width { row[j] *= inv }
                                    for j in width..<total { row[j] = 0 }
                                }
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
