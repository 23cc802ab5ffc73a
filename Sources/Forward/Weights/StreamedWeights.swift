import Foundation
import TensorCore

/// A weight matrix [rows, cols] (PyTorch `[out, in]`) that stays in the checkpoint and is read a range of
/// rows at a time. The text decoder multiplies by it chunk by chunk (`StreamedLinear`), so a layer's
/// weights never exist whole in fp32: each thread converts the next rows into a cache-sized buffer and
/// multiplies them right away.
///
/// The readers define every text-layer matrix this way (names, shapes, Megatron's QKV split and fc1
/// chunks as row segments); `textLayer` materialises the same matrices, so there is one definition.
struct MatrixRows {
    let rows: Int
    let cols: Int
    /// Writes rows `range` (row-major, `cols` wide) to the pointer.
    let read: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void

    /// The rows of a 2-D tensor (`key`, exactly [rows, cols]), or of one item of a stacked tensor:
    /// `prefix` are the leading indices (a layer, an expert) of a tensor of shape `prefixShape + [rows, cols]`.
    static func tensor(_ table: TensorTable, _ key: String, rows: Int, cols: Int, prefix: [Int] = [],
                       prefixShape: [Int] = []) throws -> MatrixRows {
        let source = try table.source(key)
        try table.expect(key, source.shape, prefixShape + [rows, cols])
        let unit = prefix.map { _ in 1 }
        return MatrixRows(rows: rows, cols: cols) { range, dest in
            try FloatReader.read(source, Box(offsets: prefix + [range.lowerBound, 0], sizes: unit + [range.count, cols]), into: dest)
        }
    }

    /// A matrix held in memory.
    static func array(_ a: [Float], rows: Int, cols: Int) -> MatrixRows {
        precondition(a.count == rows * cols)
        return MatrixRows(rows: rows, cols: cols) { range, dest in
            a.withUnsafeBufferPointer { dest.update(from: $0.baseAddress! + range.lowerBound * cols, count: range.count * cols) }
        }
    }

    /// The matrix made of these row ranges of `self`, in order (a slice, or Megatron's per-group QKV rows).
    func segments(_ parts: [Range<Int>]) -> MatrixRows {
        precondition(parts.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= rows })
        let base = self, cols = self.cols
        var starts = [Int](), total = 0
        for p in parts { starts.append(total); total += p.count }
        return MatrixRows(rows: total, cols: cols) { range, dest in
            var r = range.lowerBound
            var out = dest
            while r < range.upperBound {
                // The segment holding row r (segments are few: a binary search is not worth it).
                let k = starts.lastIndex { $0 <= r }!
                let within = r - starts[k], n = Swift.min(parts[k].count - within, range.upperBound - r)
                try base.read((parts[k].lowerBound + within)..<(parts[k].lowerBound + within + n), out)
                out += n * cols
                r += n
            }
        }
    }

    /// Rows `range` of `self`.
    func slice(_ range: Range<Int>) -> MatrixRows { segments([range]) }

    /// The whole matrix in memory.
    func materialize() throws -> [Float] {
        let n = rows * cols
        if n == 0 { return [] }
        return try [Float](unsafeUninitializedCapacity: n) { buffer, count in
            try read(0..<rows, buffer.baseAddress!)
            count = n
        }
    }
}

/// A linear layer whose weight is read on demand: `y[S, out] = x[S, in] · Wᵀ (+ bias)`.
struct StreamedLinear {
    var weight: MatrixRows
    var bias: [Float]?

    /// Bytes of fp32 weight rows a thread converts and multiplies at a time: a few MB, so that two
    /// threads' chunks stay in the last-level cache between the conversion and the GEMM's packing.
    static let chunkBytes = 4 << 20

    init(weight: MatrixRows, bias: [Float]?) {
        precondition(bias.map { $0.count == weight.rows } ?? true)
        self.weight = weight
        self.bias = bias
    }

    func materialized() throws -> LinearWeights {
        LinearWeights(weight: try weight.materialize(), bias: bias, outFeatures: weight.rows, inFeatures: weight.cols)
    }

    /// `x · Wᵀ (+ bias)` for x [rows, in]. Chunks of weight rows are spread over the forward pass's threads;
    /// each thread reads its chunk and runs a single-threaded GEMM into its columns of y.
    func apply(_ x: [Float], rows s: Int, chunkBytes: Int = StreamedLinear.chunkBytes) throws -> [Float] {
        let out = weight.rows, k = weight.cols
        precondition(x.count == s * k, "linear: shape mismatch")
        var y: [Float]
        if let bias {
            y = [Float](repeating: 0, count: s * out)
            for r in 0..<s { for o in 0..<out { y[r * out + o] = bias[o] } }
        } else {
            // Every element is written by exactly one GEMM (beta 0): no need to zero y first (the logits
            // are ~100 MB).
            y = [Float](unsafeUninitializedCapacity: s * out) { _, count in count = s * out }
        }
        if s == 0 || out == 0 { return y }
        let chunk = Swift.max(1, Swift.min(out, chunkBytes / Swift.max(1, k * MemoryLayout<Float>.size)))
        let weight = self.weight, beta: Float = bias == nil ? 0 : 1
        try x.withUnsafeBufferPointer { xp in
            try y.withUnsafeMutableBufferPointer { yp in
                let xBase = xp.baseAddress!, yBase = yp.baseAddress!
                try BLAS.singleThreaded {
                    try WorkQueue.run(tasks: (out + chunk - 1) / chunk) { next in
                        let w = Scratch.forThisThread(floats: chunk * k)
                        while let c = next() {
                            let r0 = c * chunk, n = Swift.min(chunk, out - r0)
                            try FloatReader.serially { try weight.read(r0..<(r0 + n), w.base) }
                            BLAS.gemm(transB: true, m: s, n: n, k: k, a: xBase, lda: k, b: w.base, ldb: k, beta: beta,
                                      c: yBase + r0, ldc: out)
                        }
                    }
                }
            }
        }
        return y
    }
}

/// A text decoder layer with its matrices read on demand.
struct StreamedTextLayer {
    enum MLP {
        /// gate, up [F, H] and down [H, F].
        case dense(gate: StreamedLinear, up: StreamedLinear, down: StreamedLinear)
        case moe(MoEWeights)
    }

    var inputNorm: [Float]
    var q: StreamedLinear
    var k: StreamedLinear
    var v: StreamedLinear
    var o: StreamedLinear
    var qNorm: [Float]
    var kNorm: [Float]
    var postAttentionNorm: [Float]
    var mlp: MLP

    /// The same layer with every matrix in memory (`ModelWeights.textLayer`).
    func materialized() throws -> TextLayerWeights {
        let m: TextMLPWeights
        switch mlp {
        case let .dense(gate, up, down):
            m = .dense(GatedMLPWeights(gate: try gate.weight.materialize(), up: try up.weight.materialize(),
                                       down: try down.weight.materialize(), intermediate: gate.weight.rows))
        case let .moe(w):
            m = .moe(w)
        }
        return TextLayerWeights(inputNorm: inputNorm, q: try q.materialized(), k: try k.materialized(), v: try v.materialized(),
                                o: try o.materialized(), qNorm: qNorm, kNorm: kNorm, postAttentionNorm: postAttentionNorm, mlp: m)
    }

    /// A layer already in memory, viewed as streamed (for `ModelWeights` other than the two readers).
    init(_ w: TextLayerWeights) {
        func lin(_ l: LinearWeights) -> StreamedLinear {
            StreamedLinear(weight: .array(l.weight, rows: l.outFeatures, cols: l.inFeatures), bias: l.bias)
        }
        inputNorm = w.inputNorm
        q = lin(w.q); k = lin(w.k); v = lin(w.v); o = lin(w.o)
        qNorm = w.qNorm; kNorm = w.kNorm; postAttentionNorm = w.postAttentionNorm
        switch w.mlp {
        case let .dense(d):
            let h = d.down.count / Swift.max(1, d.intermediate)
            mlp = .dense(gate: StreamedLinear(weight: .array(d.gate, rows: d.intermediate, cols: h), bias: nil),
                         up: StreamedLinear(weight: .array(d.up, rows: d.intermediate, cols: h), bias: nil),
                         down: StreamedLinear(weight: .array(d.down, rows: h, cols: d.intermediate), bias: nil))
        case let .moe(m):
            mlp = .moe(m)
        }
    }

    init(inputNorm: [Float], q: StreamedLinear, k: StreamedLinear, v: StreamedLinear, o: StreamedLinear, qNorm: [Float],
         kNorm: [Float], postAttentionNorm: [Float], mlp: MLP) {
        self.inputNorm = inputNorm
        self.q = q; self.k = k; self.v = v; self.o = o
        self.qNorm = qNorm; self.kNorm = kNorm; self.postAttentionNorm = postAttentionNorm
        self.mlp = mlp
    }
}

/// Weight readers that can hand out text layers without reading their matrices.
protocol StreamingWeights: ModelWeights {
    func streamedTextLayer(_ index: Int) throws -> StreamedTextLayer
}

extension ModelWeights {
    /// Layer `index` as the decoder computes on it: streamed when the reader supports it.
    func decoderLayer(_ index: Int) throws -> StreamedTextLayer {
        if let s = self as? StreamingWeights { return try s.streamedTextLayer(index) }
        return StreamedTextLayer(try textLayer(index))
    }
}

/// A per-thread fp32 buffer for weight chunks, kept between calls: the linear layers of a forward pass
/// ask for the same few MB on the same worker threads dozens of times, and fresh memory costs page faults.
final class Scratch {
    let base: UnsafeMutablePointer<Float>
    let capacity: Int

    private init(_ capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    private static let key = "Forward.Scratch"

    /// This thread's buffer, grown to at least `floats` elements. Valid until this thread asks again.
    static func forThisThread(floats: Int) -> Scratch {
        let d = Thread.current.threadDictionary
        if let s = d[key] as? Scratch, s.capacity >= floats { return s }
        let s = Scratch(Swift.max(floats, 1))
        d[key] = s
        return s
    }
}
