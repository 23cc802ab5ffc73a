/// Bilinear resampling (align_corners=True) of the learned square position table to each image's patch
/// grid, with the patches in spatial-merge-block order, as transformers'
/// `get_vision_interpolation_indices_and_weights` computes it: per axis, source coordinate
/// `i·(side-1)/(n-1)` (fp32), taps floor and floor+1 (clamped), weights 1 - distance; the four 2-D taps
/// are (r0,c0), (r0,c1), (r1,c0), (r1,c1) with product weights.
struct PositionInterpolation {
    /// [P, 4] flat indices into the table.
    var indices: [Int]
    /// [P, 4] weights.
    var weights: [Float]

    init(grids: [[Int]], side: Int, merge m: Int) {
        indices = []
        weights = []
        for g in grids {
            let (t, gh, gw) = (g[0], g[1], g[2])
            let rowTaps = Self.axis(count: gh, side: side), colTaps = Self.axis(count: gw, side: side)
            var frameIdx = [Int](), frameW = [Float]()
            for bh in 0..<(gh / m) {
                for bw in 0..<(gw / m) {
                    for i in 0..<m {
                        for j in 0..<m {
                            let (r, c) = (rowTaps[bh * m + i], colTaps[bw * m + j])
                            for a in 0..<2 {
                                for b in 0..<2 {
                                    frameIdx.append(r.taps[a] * side + c.taps[b])
                                    frameW.append(r.weights[a] * c.weights[b])
                                }
                            }
                        }
                    }
                }
            }
            for _ in 0..<t {
                indices += frameIdx
                weights += frameW
            }
        }
    }

    /// Taps and weights along one axis of `count` patches.
    private static func axis(count n: Int, side: Int) -> [(taps: [Int], weights: [Float])] {
        (0..<n).map { i in
            let src = Float(i) * Float(side - 1) / Float(max(n - 1, 1))
            let floor = src.rounded(.down)
            let f = Int(floor)
            let taps = [min(max(f, 0), side - 1), min(max(f + 1, 0), side - 1)]
            let ws = (0..<2).map { o in max(0, 1 - abs(src - floor - Float(o))) }
            return (taps, ws)
        }
    }

    /// The interpolated embeddings [P, width] from the table [side², width].
    func embed(table: [Float], width: Int) -> [Float] {
        let p = indices.count / 4
        var out = [Float](repeating: 0, count: p * width)
        for r in 0..<p {
            for tap in 0..<4 {
                let src = indices[r * 4 + tap] * width, wt = weights[r * 4 + tap]
                for c in 0..<width { out[r * width + c] += table[src + c] * wt }
            }
        }
        return out
    }
}
