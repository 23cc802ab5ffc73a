import Foundation
import TensorCore

/// Qwen3-VL's video processor (transformers' `Qwen3VLVideoProcessor`) over decoded RGB frames: frame
/// sampling (`VideoSampling`), one smart resize for the whole clip (frames × height × width within the
/// pixel bounds), bicubic resampling of each frame, rescale and normalisation as its torchvision backend
/// fuses them, the last frame repeated up to a multiple of `temporal_patch_size`, and patches ordered by
/// (temporal patch, merge block row, merge block column, row in block, column in block), each row
/// flattened as (C, T, P, P).
///
/// Resampling is Pillow's bicubic (`BicubicResize`); transformers resizes videos with torchvision, which is
/// not bit-identical when a frame has to be resized. Frames already at the smart-resize size pass through
/// unchanged in both.
public struct VideoProcessor: Sendable {
    public var config: VideoProcessorConfig
    public var vision: VisionConfig

    /// Fails when the processor's patch geometry differs from the vision tower's.
    public init(config: VideoProcessorConfig, vision: VisionConfig) throws {
        try config.frame.check(against: vision)
        self.config = config
        self.vision = vision
    }

    /// One processed video: `pixel_values_videos` rows, its (t, h, w) grid in patches, and the time in
    /// seconds of each temporal patch (the mean of its first and last frame's times), which the prompt
    /// writes as `<t seconds>` before the patch's tokens.
    public struct Output: Sendable {
        public var pixelValues: [Float]
        public var gridTHW: [Int]
        public var timestamps: [Double]
    }

    /// The size every frame of a `frames`-frame clip of `height`×`width` is resized to.
    public func targetSize(frames: Int, height: Int, width: Int) throws -> (height: Int, width: Int) {
        let c = config.frame
        guard c.resize else { return (height, width) }
        return try SmartResize.videoSize(frames: frames, height: height, width: width, temporalFactor: c.temporalPatchSize,
                                         factor: c.patchSize * c.mergeSize, minPixels: c.minPixels, maxPixels: c.maxPixels)
    }

    /// Frames (RGB HWC bytes, all `height`×`width`) at `fps` frames per second → the processed video.
    public func process(frames: [[UInt8]], height: Int, width: Int, fps: Double) throws -> Output {
        let indices = try VideoSampling.indices(total: frames.count, fps: fps, config: config)
        return try process(sampled: indices.map { frames[$0] }, indices: indices, height: height, width: width, fps: fps)
    }

    /// The frames `VideoSampling.indices` picked (`sampled[k]` is frame `indices[k]`), so that a caller
    /// reading frames one by one keeps only those in memory.
    public func process(sampled: [[UInt8]], indices: [Int], height: Int, width: Int, fps: Double) throws -> Output {
        guard vision.inChannels == 3 else {
            throw ForwardError(.config, "vision_config.in_channels is \(vision.inChannels); video frames are RGB")
        }
        guard fps.isFinite, fps > 0 else { throw ForwardError(.input, "the video's frame rate must be a positive number, not \(fps)") }
        guard !sampled.isEmpty, sampled.count == indices.count else { throw ForwardError(.input, "the video has no frames") }
        for (i, f) in sampled.enumerated() where f.count != height * width * 3 {
            throw ForwardError(.input, "frame \(indices[i]) has \(f.count) bytes; every frame must be \(height)×\(width) RGB like the first",
                               hint: "give frames of one size")
        }
        let (h, w) = try targetSize(frames: indices.count, height: height, width: width)
        let p = config.frame.patchSize, m = config.frame.mergeSize, tp = config.frame.temporalPatchSize
        for side in [h / p, w / p] where side > Limits.imageGridSide {
            throw ForwardError(.input, "the resized frames (\(h)×\(w)) have \(side) patches along a side, above \(Limits.imageGridSide)")
        }
        var resized = sampled.map { BicubicResize.resize($0, height: height, width: width, channels: 3, toHeight: h, width: w) }
        while resized.count % tp != 0 { resized.append(resized[resized.count - 1]) }
        let table = try Self.fusedTable(config.frame.normalization)
        let gt = resized.count / tp, gh = h / p, gw = w / p
        let rowWidth = 3 * tp * p * p
        var out = [Float](repeating: 0, count: gt * gh * gw * rowWidth)
        var k = 0
        for t in 0..<gt {
            for bh in 0..<(gh / m) {
                for bw in 0..<(gw / m) {
                    for i in 0..<m {
                        for j in 0..<m {
                            let y0 = (bh * m + i) * p, x0 = (bw * m + j) * p
                            for ch in 0..<3 {
                                for dt in 0..<tp {
                                    let frame = resized[t * tp + dt]
                                    for y in 0..<p {
                                        for x in 0..<p {
                                            out[k] = table[ch * 256 + Int(frame[((y0 + y) * w + x0 + x) * 3 + ch])]
                                            k += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Output(pixelValues: out, gridTHW: [gt, gh, gw],
                      timestamps: VideoSampling.timestamps(indices: indices, fps: fps, temporalPatchSize: tp))
    }

    /// Rescale and normalisation as transformers' torchvision backend fuses them: the byte as float32, minus
    /// mean/rescale_factor, divided by std/rescale_factor, each of those float32 (`mean · (1 / rescale)`).
    static func fusedTable(_ n: PixelNormalization) throws -> [Float] {
        guard let mean = n.mean, let std = n.std else { return try n.table(channels: 3) }
        guard mean.count == 3, std.count == 3 else {
            throw ForwardError(.input, "image_mean / image_std have \(mean.count) / \(std.count) values for 3 channels")
        }
        let scale = n.rescaleFactor.map { Float(1.0 / $0) } ?? 1
        var out = [Float](repeating: 0, count: 3 * 256)
        for ch in 0..<3 {
            let mu = Float(mean[ch]) * scale, sigma = Float(std[ch]) * scale
            for b in 0..<256 { out[ch * 256 + b] = (Float(b) - mu) / sigma }
        }
        return out
    }
}
