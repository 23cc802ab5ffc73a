import COpenBLAS
import Foundation

/// The only place that calls OpenBLAS. Every matrix product of the forward pass goes through `gemm`.
public enum BLAS {
    /// The thread count of the forward pass: OpenBLAS's, and the workers of `WorkQueue`.
    nonisolated(unsafe) public private(set) static var threads = ProcessInfo.processInfo.activeProcessorCount

    /// Sets OpenBLAS's worker thread count (process-wide).
    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        openblas_set_num_threads(Int32(threads))
    }

    /// Runs `body` with OpenBLAS on the calling thread only: for work already split across threads, where
    /// BLAS workers would only spin.
    static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(threads)) }
        return try body()
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

    /// A linear layer like `linear`, with the output features split in chunks of about `chunkBytes` of
    /// weight rows spread over the forward pass's threads, each chunk one single-threaded GEMM (no BLAS
    /// worker spinning between calls; each output column is computed as by one whole GEMM).
    static func linearChunked(_ x: [Float], rows: Int, weight: [Float], inFeatures: Int, outFeatures: Int,
                              bias: [Float]? = nil, chunkBytes: Int = 4 << 20) -> [Float] {
        let chunk = Swift.max(1, Swift.min(outFeatures, chunkBytes / Swift.max(1, inFeatures * MemoryLayout<Float>.size)))
        let tasks = (outFeatures + chunk - 1) / chunk
        if tasks < 2 || threads < 2 || rows == 0 {
            return linear(x, rows: rows, weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
        }
        var y = linearOutput(x, rows: rows, weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    let xBase = xp.baseAddress!, wBase = wp.baseAddress!, yBase = yp.baseAddress!
                    singleThreaded {
                        WorkQueue.run(tasks: tasks) { next in
                            while let c = next() {
                                let r0 = c * chunk, n = Swift.min(chunk, outFeatures - r0)
                                gemm(transB: true, m: rows, n: n, k: inFeatures, a: xBase, lda: inFeatures, b: wBase + r0 * inFeatures,
                                     ldb: inFeatures, beta: bias == nil ? 0 : 1, c: yBase + r0, ldc: outFeatures)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// The output of a linear layer before the product: zeros, or the bias in every row (the GEMM then
    /// accumulates onto it). Checks the shapes.
    private static func linearOutput(_ x: [Float], rows: Int, weight: [Float], inFeatures: Int, outFeatures: Int,
                                     bias: [Float]?) -> [Float] {
        precondition(x.count == rows * inFeatures && weight.count == outFeatures * inFeatures, "linear: shape mismatch")
        var y = [Float](repeating: 0, count: rows * outFeatures)
        if let bias {
            precondition(bias.count == outFeatures, "linear: bias shape mismatch")
            for r in 0..<rows { for o in 0..<outFeatures { y[r * outFeatures + o] = bias[o] } }
        }
        return y
    }

    /// A linear layer: `y[rows, out] = x[rows, in] · W[out, in]ᵀ (+ bias)`.
    static func linear(_ x: [Float], rows: Int, weight: [Float], inFeatures: Int, outFeatures: Int,
                       bias: [Float]? = nil) -> [Float] {
        var y = linearOutput(x, rows: rows, weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
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

/// Independent tasks spread over the forward pass's threads, taken in order as workers free up.
enum WorkQueue {
    /// Hands out task indices in order until they run out or a worker failed.
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private let tasks: Int
        private var taken = 0
        private(set) var failure: Error?

        init(_ tasks: Int) { self.tasks = tasks }

        func next() -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard failure == nil, taken < tasks else { return nil }
            taken += 1
            return taken - 1
        }

        func fail(_ error: Error) {
            lock.lock()
            if failure == nil { failure = error }
            lock.unlock()
        }
    }

    /// Calls `worker` once per thread (at most `tasks` threads); each worker pulls task indices with `next()`
    /// until it returns nil, and may keep its own buffers across tasks. The first error stops the queue.
    static func run(tasks: Int, workers: Int = BLAS.threads, _ worker: (_ next: () -> Int?) throws -> Void) throws {
        if tasks <= 0 { return }
        let counter = Counter(tasks)
        let n = Swift.max(1, Swift.min(workers, tasks))
        if n == 1 {
            try worker(counter.next)
            return
        }
        DispatchQueue.concurrentPerform(iterations: n) { _ in
            do { try worker(counter.next) } catch { counter.fail(error) }
        }
        if let failure = counter.failure { throw failure }
    }

    /// `run` for workers that cannot fail.
    static func run(tasks: Int, workers: Int = BLAS.threads, _ worker: (_ next: () -> Int?) -> Void) {
        if tasks <= 0 { return }
        let counter = Counter(tasks)
        let n = Swift.max(1, Swift.min(workers, tasks))
        if n == 1 {
            worker(counter.next)
            return
        }
        DispatchQueue.concurrentPerform(iterations: n) { _ in worker(counter.next) }
    }
}
