import COpenBLAS
import Foundation

/// The only place that calls OpenBLAS. Every matrix product of the forward pass goes through `gemm`.
public enum BLAS {
    /// Sets OpenBLAS's worker thread count (process-wide).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// Row-major `C[m,n] = alpha · op(A) · op(B) + beta · C`, with `op` a transpose when the flag is set.
    /// Leading dimensions are in elements, so heads can be addressed as strided views of wider rows.
    static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// A linear layer: `y[rows, out] = x[rows, in] · W[out, in]ᵀ (+ bias)`.
    static func linear(_ x: [Float], rows: Int, weight: [Float], inFeatures: Int, outFeatures: Int,
                       bias: [Float]? = nil) -> [Float] {
        precondition(x.count == rows * inFeatures && weight.count == outFeatures * inFeatures, "linear: shape mismatch")
        var y = [Float](repeating: 0, count: rows * outFeatures)
        if let bias {
            precondition(bias.count == outFeatures, "linear: bias shape mismatch")
            for r in 0..<rows { for o in 0..<outFeatures { y[r * outFeatures + o] = bias[o] } }
        }
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    gemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: xp.baseAddress!, lda: inFeatures,
                         b: wp.baseAddress!, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: yp.baseAddress!, ldc: outFeatures)
                }
            }
        }
        return y
    }
}
