import Foundation

/// Turns an RGB image into `pixel_values` rows the way the Qwen2-VL image processor does once the image
/// is resized (`ImageProcessor` resizes): rescale, normalise with mean/std, repeat the frame
/// `temporal_patch_size` times, cut P×P patches, and order them by 2×2 spatial-merge block
/// (block row, block column, row in block, column in block), each row flattened as (C, T, P, P).
public enum ImagePatches {
    /// - Parameters:
    ///   - hwc: height·width·channels bytes, row-major (HWC).
    ///   - normalization: rescale and per-channel mean/std (default: Qwen3-VL's 1/255 and 0.5 everywhere).
    /// - Returns: pixel_values [P, C·T·P·P] and the grid (1, H/P, W/P).
    public static func fromHWC(_ hwc: [UInt8], height: Int, width: Int, vision: VisionConfig,
                               normalization: PixelNormalization = PixelNormalization()) throws -> (pixelValues: [Float], gridTHW: [Int]) {
        let c = vision.inChannels, p = vision.patchSize, t = vision.temporalPatchSize, m = vision.spatialMergeSize
        guard hwc.count == height * width * c else {
            throw ForwardError(.input, "image has \(hwc.count) bytes; expected \(height)×\(width)×\(c)")
        }
        let table = try normalization.table(channels: c)
        guard height % (p * m) == 0, width % (p * m) == 0, height > 0, width > 0 else {
            throw ForwardError(.input, "image size \(height)×\(width) is not a multiple of patch·merge = \(p * m)",
                               hint: "resize the image first (ImageProcessor does, with the model's preprocessor_config.json)")
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
                                        out[k] = table[ch * 256 + Int(hwc[((py0 + y) * width + px0 + x) * c + ch])]
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

/// Rescale and normalisation of 8-bit samples, with the numerics of transformers' PIL-backend processor:
/// the byte times `rescale_factor` in double precision, cast to float32, then `(x − mean) / std` in float32.
/// A sample has 256 possible values, so each channel's results are a lookup table.
public struct PixelNormalization: Sendable, Equatable {
    /// nil: `do_rescale` off (the byte itself, as float32).
    public var rescaleFactor: Double?
    /// nil: `do_normalize` off. Otherwise one value per channel.
    public var mean: [Double]?
    public var std: [Double]?

    public init(rescaleFactor: Double? = 1 / 255.0, mean: [Double]? = [0.5, 0.5, 0.5], std: [Double]? = [0.5, 0.5, 0.5]) {
        self.rescaleFactor = rescaleFactor
        self.mean = mean
        self.std = std
    }

    /// table[channel·256 + byte].
    func table(channels: Int) throws -> [Float] {
        if let mean, let std, mean.count != channels || std.count != channels {
            throw ForwardError(.input, "image_mean / image_std have \(mean.count) / \(std.count) values for \(channels) channels")
        }
        var out = [Float](repeating: 0, count: channels * 256)
        for ch in 0..<channels {
            for b in 0..<256 {
                var v = rescaleFactor.map { Float(Double(b) * $0) } ?? Float(b)
                if let mean, let std { v = (v - Float(mean[ch])) / Float(std[ch]) }
                out[ch * 256 + b] = v
            }
        }
        return out
    }
}
