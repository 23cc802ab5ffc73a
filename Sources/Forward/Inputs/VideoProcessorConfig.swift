import Foundation
import ModelSpec
import TensorCore

/// The fields of a Qwen3-VL `video_preprocessor_config.json` (or, as transformers falls back to it, the
/// `preprocessor_config.json`) that the video processor uses, with `Qwen3VLVideoProcessor`'s defaults:
/// the patch geometry, pixel bounds and normalisation as images have them (`ImageProcessorConfig`, its
/// `size.shortest_edge`/`longest_edge` bounding frames × height × width), plus frame sampling.
public struct VideoProcessorConfig: Sendable, Equatable {
    /// Patch geometry, smart-resize bounds, `do_resize`, rescale and normalisation.
    public var frame: ImageProcessorConfig
    /// `do_sample_frames`: pick frames by `fps` / `num_frames` (otherwise every frame is kept).
    public var sampleFrames: Bool
    /// `fps`: frames sampled per second of video (nil: sample by `num_frames`, or every frame).
    public var fps: Double?
    /// `num_frames`: a fixed count of frames to sample (exclusive with `fps`).
    public var numFrames: Int?
    public var minFrames: Int
    public var maxFrames: Int

    /// Qwen3VLVideoProcessor's defaults: patch 16, merge 2, temporal 2, 128·32² … 768·32² pixels,
    /// mean and std 0.5, 2 frames per second, 4 … 768 frames.
    public static let defaults = VideoProcessorConfig(
        frame: ImageProcessorConfig(patchSize: 16, temporalPatchSize: 2, mergeSize: 2, minPixels: 128 * 32 * 32,
                                    maxPixels: 32 * 32 * 768, normalization: PixelNormalization()),
        sampleFrames: true, fps: 2, numFrames: nil, minFrames: 4, maxFrames: 768)

    /// A config from its parts (`defaults` shows the usual ones).
    public init(frame: ImageProcessorConfig, sampleFrames: Bool, fps: Double?, numFrames: Int?, minFrames: Int, maxFrames: Int) {
        self.frame = frame
        self.sampleFrames = sampleFrames
        self.fps = fps
        self.numFrames = numFrames
        self.minFrames = minFrames
        self.maxFrames = maxFrames
    }

    /// Reads a (video_)preprocessor_config.json (at most `Limits.configFileBytes`).
    public init(path: String) throws {
        let json: JSONValue
        do { json = try ModelSpec.readJSON(path) } catch let e as ModelSpecError {
            throw ForwardError(.config, e.summary.replacingOccurrences(of: "config.json", with: "video_preprocessor_config.json"),
                               file: path, byteOffset: e.byteOffset, hint: e.hint, underlying: e.underlying ?? e)
        }
        do { try self.init(json: json) } catch var e as ForwardError {
            e.file = path
            throw e
        }
    }

    /// Parses the JSON object; a field that is present must have the right type and range.
    public init(json: JSONValue) throws {
        self = Self.defaults
        frame = try ImageProcessorConfig(json: json, defaults: Self.defaults.frame)
        func value(_ key: String) -> JSONValue? { json[key].flatMap { $0.isNull ? nil : $0 } }
        func count(_ key: String) throws -> Int? {
            guard let v = value(key) else { return nil }
            guard let n = v.intValue, (1...Limits.videoFrames).contains(n) else {
                throw ForwardError(.config, "\(key) must be an integer in 1…\(Limits.videoFrames)", key: key)
            }
            return n
        }
        if let v = value("do_sample_frames") {
            guard let b = v.boolValue else { throw ForwardError(.config, "do_sample_frames must be true or false", key: "do_sample_frames") }
            sampleFrames = b
        }
        if json["fps"]?.isNull == true { fps = nil }
        if let v = value("fps") {
            guard let d = v.doubleValue, d.isFinite, d > 0 else { throw ForwardError(.config, "fps must be a positive number", key: "fps") }
            fps = d
        }
        numFrames = try count("num_frames")
        minFrames = try count("min_frames") ?? minFrames
        maxFrames = try count("max_frames") ?? maxFrames
        if let v = value("cap_pixels_per_frame"), v.boolValue != false {
            throw ForwardError(.config, "cap_pixels_per_frame is not supported (frames share the whole size.longest_edge budget, transformers' default)",
                               key: "cap_pixels_per_frame", hint: "set it to false or remove it")
        }
        if sampleFrames, numFrames != nil, fps != nil {
            throw ForwardError(.config, "num_frames and fps are both set; the video processor samples by one of them",
                               key: "num_frames", hint: "set fps to null to sample a fixed number of frames")
        }
    }
}
