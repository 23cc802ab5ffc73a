import Foundation

/// cos/sin tables [P, hdv] of the vision attention: 2-D rotary over (row, column) of each patch in the
/// full-resolution grid. The hdv/4 frequencies `1/theta^(2i/(hdv/2))` are applied to the row for the first
/// quarter and to the column for the second; the table is that half twice over ([f_row, f_col, f_row, f_col]).
struct VisionRotary {
    var cos: [Float]
    var sin: [Float]

    init(grids: [[Int]], config v: VisionConfig) {
        let hd = v.headDim, m = v.spatialMergeSize
        let inv = Rotary.inverseFrequencies(dim: hd / 2, theta: v.ropeTheta)
        let q = inv.count
        cos = []
        sin = []
        for g in grids {
            for _ in 0..<g[0] {
                for bh in 0..<(g[1] / m) {
                    for bw in 0..<(g[2] / m) {
                        for i in 0..<m {
                            for j in 0..<m {
                                let row = Float(bh * m + i), col = Float(bw * m + j)
                                var angles = [Float](repeating: 0, count: hd)
                                for f in 0..<q {
                                    angles[f] = row * inv[f]
                                    angles[q + f] = col * inv[f]
                                }
                                for f in 0..<(2 * q) { angles[2 * q + f] = angles[f] }
                                cos += angles.map { Foundation.cos($0) }
                                sin += angles.map { Foundation.sin($0) }
                            }
                        }
                    }
                }
            }
        }
    }
}
