import Foundation

/// cos/sin tables [S, hd] of the text attention: interleaved multimodal RoPE.
///
/// Each of the hd/2 frequencies takes its position from one axis: frequency i uses h when i % 3 == 1 and
/// i < 3·section[1], w when i % 3 == 2 and i < 3·section[2], t otherwise (transformers'
/// `apply_interleaved_mrope`, Megatron's `Qwen3VLMultimodalRotaryEmbedding`). The table is the
/// frequencies twice over ([f, f]), as `rotate_half` expects.
struct TextRotary {
    var cos: [Float]
    var sin: [Float]

    init(positions: [[Int]], config: TextConfig) {
        let hd = config.headDim, half = hd / 2
        let s = positions[0].count
        let inv = Rotary.inverseFrequencies(dim: hd, theta: config.ropeTheta)
        let sec = config.mropeSection
        let axis: [Int] = (0..<half).map { i in
            if i % 3 == 1 && i < 3 * sec[1] { return 1 }
            if i % 3 == 2 && i < 3 * sec[2] { return 2 }
            return 0
        }
        cos = [Float](repeating: 0, count: s * hd)
        sin = cos
        for r in 0..<s {
            for i in 0..<half {
                let angle = Float(positions[axis[i]][r]) * inv[i]
                let c = Foundation.cos(angle), sn = Foundation.sin(angle)
                cos[r * hd + i] = c; cos[r * hd + i + half] = c
                sin[r * hd + i] = sn; sin[r * hd + i + half] = sn
            }
        }
    }
}
