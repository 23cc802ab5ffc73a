import Foundation

/// Rotary position embedding in the "rotate half" form used by Qwen3-VL (text and vision) and by
/// Megatron's non-interleaved rope: `x·cos + rotate_half(x)·sin`, where `rotate_half([a, b]) = [-b, a]`.
enum Rotary {
    /// Rotates every head of `x` ([rows, heads·headDim]) in place; `cos`/`sin` are [rows, headDim].
    static func apply(_ x: inout [Float], rows: Int, heads: Int, headDim: Int, cos: [Float], sin: [Float]) {
        precondition(x.count == rows * heads * headDim && cos.count == rows * headDim && sin.count == cos.count)
        let half = headDim / 2
        var tmp = [Float](repeating: 0, count: headDim)
        for r in 0..<rows {
            let cs = r * headDim
            for h in 0..<heads {
                let base = (r * heads + h) * headDim
                for d in 0..<headDim { tmp[d] = x[base + d] }
                for d in 0..<headDim {
                    let rotated = d < half ? -tmp[d + half] : tmp[d - half]
                    x[base + d] = tmp[d] * cos[cs + d] + rotated * sin[cs + d]
                }
            }
        }
    }

    /// `1 / theta^(2i/dim)` for i in 0..<dim/2, computed in fp32 as torch does.
    static func inverseFrequencies(dim: Int, theta: Double) -> [Float] {
        (0..<(dim / 2)).map { i in 1 / powf(Float(theta), Float(2 * i) / Float(dim)) }
    }
}
