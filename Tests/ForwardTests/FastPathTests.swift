import Foundation
import TensorCore
import Testing
@testable import Forward

/// The fast paths of the forward pass compute what the plain ones do: the fp32 reader against
/// `TensorSource.readFloats`, streamed linear layers against whole-matrix GEMMs, stored-orientation experts
/// against the canonical per-expert matrices, and chunked logits against one chunk per row.
@Suite struct FastPathTests {
    /// Keeps test tensors' bytes alive.
    final class Bytes {
        var data: [UInt8]
        init(_ data: [UInt8]) { self.data = data }
    }

    /// A contiguous tensor of seeded finite values in `dtype`.
    static func tensor(_ dtype: DType, _ shape: [Int], seed: UInt64) -> (ContiguousTensor, Bytes) {
        let n = shape.reduce(1, *)
        var state = seed
        var floats = [Float](repeating: 0, count: n)
        for i in 0..<n {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            floats[i] = Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
        var bytes = [UInt8](repeating: 0, count: n * dtype.byteSize!)
        bytes.withUnsafeMutableBytes { b in
            for i in 0..<n {
                switch dtype {
                case .f32: b.storeBytes(of: floats[i], toByteOffset: 4 * i, as: Float.self)
                case .bf16: b.storeBytes(of: FloatCast.floatToBF16(floats[i]), toByteOffset: 2 * i, as: UInt16.self)
                default: b.storeBytes(of: FloatCast.floatToF16(floats[i]), toByteOffset: 2 * i, as: UInt16.self)
                }
            }
        }
        let owner = Bytes(bytes)
        let base = owner.data.withUnsafeBytes { $0.baseAddress! }
        return (ContiguousTensor(dtype: dtype, shape: shape, base: base, owner: owner), owner)
    }

    @Test(arguments: [DType.bf16, .f16, .f32])
    func floatReaderEqualsReadFloats(dtype: DType) throws {
        let (t, owner) = Self.tensor(dtype, [3, 700, 300], seed: 11)
        try withExtendedLifetime(owner) {
            // Whole (large enough to be split across threads), an inner region, a single row, a scalar-ish box.
            for box in [Box(shape: [3, 700, 300]), Box(offsets: [1, 10, 5], sizes: [2, 640, 285]),
                        Box(offsets: [2, 699, 0], sizes: [1, 1, 300]), Box(offsets: [0, 3, 7], sizes: [1, 1, 1])] {
                let fast = try FloatReader.floats(t, box), plain = try t.readFloats(box)
                #expect(fast == plain, "\(dtype) \(box)")
            }
            // A transposed view (strided innermost axis) takes the generic path.
            let view = ComposedTensor(dtype: dtype, shape: [300, 700], parts: [
                .init(box: Box(shape: [300, 700]), source: t, sourceOrigin: [1, 0, 0], axisMap: [2, 1]),
            ])
            let fast = try FloatReader.floats(view), plain = try view.readFloats()
            #expect(fast == plain)
        }
    }

    @Test func streamedLinearEqualsOneGEMM() throws {
        let (t, owner) = Self.tensor(.bf16, [2, 96, 80], seed: 5)
        try withExtendedLifetime(owner) {
            let table = TensorTable(keys: ["w"], origin: nil) { _ in t }
            let rows = try MatrixRows.tensor(table, "w", rows: 96, cols: 80, prefix: [1], prefixShape: [2])
            let w = try rows.materialize()
            let plain = try t.readFloats(Box(offsets: [1, 0, 0], sizes: [1, 96, 80]))
            #expect(w == plain)
            let x: [Float] = (0..<(7 * 80)).map { (i: Int) -> Float in Float((i * 37) % 101) / 101 - 0.5 }
            let bias: [Float] = (0..<96).map { (i: Int) -> Float in Float(i) / 96 }
            let whole = BLAS.linear(x, rows: 7, weight: w, inFeatures: 80, outFeatures: 96, bias: bias)
            for chunk in [80 * 4, 80 * 4 * 7, 80 * 4 * 96, 1 << 20] {
                let y = try StreamedLinear(weight: rows, bias: bias).apply(x, rows: 7, chunkBytes: chunk)
                #expect(maxAbsDiff(y, whole) <= 1e-5, "chunk \(chunk) bytes")
            }
            // Megatron's per-group QKV rows as segments equal the split of the whole matrix.
            let (nh, ng, hd) = (4, 2, 8)   // (4 + 2·2)·8 = 64 rows
            let fused = rows.slice(0..<64)
            let split = MegatronQKV.split(try fused.materialize(), heads: nh, groups: ng, headDim: hd, cols: 80)
            let ranges = MegatronQKV.rowRanges(heads: nh, groups: ng, headDim: hd)
            let q = try fused.segments(ranges.q).materialize(), k = try fused.segments(ranges.k).materialize()
            let v = try fused.segments(ranges.v).materialize()
            #expect(q == split.q && k == split.k && v == split.v)
            var part = [Float](repeating: 0, count: 10 * 80)
            try fused.segments(ranges.q).read(12..<22, &part)   // crosses from group 0's queries into group 1's
            #expect(part == Array(split.q[(12 * 80)..<(22 * 80)]))
        }
    }

    /// The MoE block from stored matrices (hub input-major, transformers-5 output-major, Megatron grouped)
    /// equals the sequential loop over canonical per-expert matrices.
    @Test(arguments: ["hf", "hf_v4", "megatron", "megatron06"])
    func storedExpertsEqualCanonicalExperts(source: String) throws {
        let model = TinyModel.moe
        let weights: ModelWeights
        switch source {
        case "megatron": weights = try model.megatronWeights()
        case "megatron06": weights = try model.megatronWeights("bridge06_tp1_ep2/")
        default: weights = try model.hfWeights(source)
        }
        let config = try #require(weights.config.text.moe)
        let h = weights.config.text.hiddenSize, s = 19
        let x: [Float] = (0..<(s * h)).map { (i: Int) -> Float in Float((i * 7919) % 211) / 211 - 0.5 }
        for l in 0..<weights.config.text.numLayers {
            guard case var .moe(m) = try weights.textLayer(l).mlp else { continue }
            #expect(m.stored != nil)
            let fast = try TextMLP.moe(x, rows: s, hidden: h, m, config: config, trace: nil, key: "")
            m.stored = nil
            let plain = try TextMLP.moe(x, rows: s, hidden: h, m, config: config, trace: nil, key: "")
            #expect(maxAbsDiff(fast, plain) <= 1e-6, "\(source) layer \(l)")
        }
    }

    @Test(arguments: TinyModel.allCases)
    func logitsDoNotDependOnTheChunking(model: TinyModel) throws {
        let weights = try model.hfWeights()
        let inputs = try model.reference().inputs("text")
        let a = try Qwen3VLForward(config: weights.config, weights: weights).run(inputs).logits
        for (chunk, threads) in [(4 * weights.config.text.hiddenSize, 2), (1 << 30, 1), (12_345, 3)] {
            let options = ForwardOptions(threads: threads, outputChunkBytes: chunk)
            let b = try Qwen3VLForward(config: weights.config, weights: weights, options: options).run(inputs).logits
            #expect(maxAbsDiff(a, b) <= 1e-5, "\(model) chunk \(chunk) threads \(threads)")
        }
    }
}
