import Foundation

/// Turns an RGB image into `pixel_values` rows the way the Qwen2-VL image processor does for an image
/// that needs no resizing: rescale by 1/255, normalise with mean/std, repeat the frame
/// `temporal_patch_size` times, cut P×P patches, and order them by 2×2 spatial-merge block
/// (block row, block column, row in block, column in block), each row flattened as (C, T, P, P).
public enum ImagePatches {
    /// - Parameters:
    ///   - hwc: height·width·channels bytes, row-major (HWC).
    ///   - mean, std: per-channel normalisation (Qwen3-VL: 0.5 everywhere).
    /// - Returns: pixel_values [P, C·T·P·P] and the grid (1, H/P, W/P).
    public static func fromHWC(_ hwc: [UInt8], height: Int, width: Int, vision: VisionConfig,
                               mean: [Float]? = nil, std: [Float]? = nil) throws -> (pixelValues: [Float], gridTHW: [Int]) {
        let c = vision.inChannels, p = vision.patchSize, t = vision.temporalPatchSize, m = vision.spatialMergeSize
        let mean = mean ?? [Float](repeating: 0.5, count: c), std = std ?? [Float](repeating: 0.5, count: c)
        guard hwc.count == height * width * c, mean.count == c, std.count == c else {
            throw ForwardError(.input, "image has \(hwc.count) bytes; expected \(height)×\(width)×\(c)")
        }
        guard height % (p * m) == 0, width % (p * m) == 0, height > 0, width > 0 else {
            throw ForwardError(.input, "image size \(height)×\(width) is not a multiple of patch·merge = \(p * m)",
                               hint: "resize the image first (the built-in processor does not resize)")
        }
        let gh = height / p, gw = width / p
        let rowWidth = vision.patchElements
        var out = [Float](repeating: 0, count: gh * gw * rowWidth)
        var row = 0
        for bh in 0..<(gh / m) {
            for bw in 0..<(gw / m) {
                for i in 0..<m {
                    for j in 0..<m {
                        let py0 = (bh * m + i) * p, px0 = (bw * m + j) * p
                        var k = row * rowWidth
                        for ch in 0..<c {
                            for _ in 0..<t {
                                for y in 0..<p {
                                    for x in 0..<p {
                                        let v = Float(hwc[((py0 + y) * width + px0 + x) * c + ch]) * (1 / 255.0 as Float)
                                        out[k] = (v - mean[ch]) / std[ch]
                                        k += 1
                                    }
                                }
                            }
                        }
                        row += 1
                    }
                }
            }
        }
        return (out, [1, gh, gw])
    }

    /// A deterministic RGB test image (HWC): red grows down the rows, green across the columns, blue is
    /// a diagonal sine. Used by the built-in inputs so `verify` needs no input file.
    public static func gradient(height: Int, width: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: height * width * 3)
        for y in 0..<height {
            for x in 0..<width {
                let r = 255.0 * Double(y) / Double(max(height - 1, 1))
                let g = 255.0 * Double(x) / Double(max(width - 1, 1))
                let b = 127.5 + 127.5 * sin(Double(x + y) / 7.0)
                let base = (y * width + x) * 3
                out[base] = UInt8(min(max(r, 0), 255))
                out[base + 1] = UInt8(min(max(g, 0), 255))
                out[base + 2] = UInt8(min(max(b, 0), 255))
            }
        }
        return out
    }
}
