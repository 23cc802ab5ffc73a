import Foundation

/// Normalisations, row by row over the last axis. Sums are accumulated in Double: the reference
/// (torch) reduces in fp32 with pairwise sums, and Double keeps us at least as close to exact.
enum Norms {
    /// RMSNorm: `w · x / sqrt(mean(x²) + eps)` over rows of width `width` (Qwen3 text norms, q/k norms).
    static func rms(_ x: [Float], width: Int, weight: [Float], eps: Float) -> [Float] {
        precondition(weight.count == width && x.count % width == 0, "rmsnorm: shape mismatch")
        var y = [Float](repeating: 0, count: x.count)
        let rows = x.count / width
        for r in 0..<rows {
            let base = r * width
            var ss = 0.0
            for i in 0..<width { let v = Double(x[base + i]); ss += v * v }
            let inv = Float(1.0 / (ss / Double(width) + Double(eps)).squareRoot())
            for i in 0..<width { y[base + i] = weight[i] * (x[base + i] * inv) }
        }
        return y
    }

    /// LayerNorm with biased variance: `(x - mean) / sqrt(var + eps) · w + b` (vision norms).
    static func layer(_ x: [Float], width: Int, weight: [Float], bias: [Float], eps: Float) -> [Float] {
        precondition(weight.count == width && bias.count == width && x.count % width == 0, "layernorm: shape mismatch")
        var y = [Float](repeating: 0, count: x.count)
        let rows = x.count / width
        for r in 0..<rows {
            let base = r * width
            var sum = 0.0
            for i in 0..<width { sum += Double(x[base + i]) }
            let mean = sum / Double(width)
            var sq = 0.0
            for i in 0..<width { let d = Double(x[base + i]) - mean; sq += d * d }
            let inv = 1.0 / (sq / Double(width) + Double(eps)).squareRoot()
            for i in 0..<width {
                y[base + i] = Float((Double(x[base + i]) - mean) * inv) * weight[i] + bias[i]
            }
        }
        return y
    }
}
