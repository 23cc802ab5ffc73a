import Foundation
import ModelSpec
import TensorCore

/// The fields of a Qwen2-VL / Qwen3-VL `preprocessor_config.json` the image processor uses, with
/// transformers' `Qwen2VLImageProcessor` defaults and its backward-compatible `min_pixels` / `max_pixels`
/// (which override `size.shortest_edge` / `size.longest_edge`).
public struct ImageProcessorConfig: Sendable, Equatable {
    public var patchSize: Int
    public var temporalPatchSize: Int
    public var mergeSize: Int
    /// Pixel-count bounds of smart resize (`size.shortest_edge`, `size.longest_edge`).
    public var minPixels: Int
    public var maxPixels: Int
    /// `do_resize`.
    public var resize: Bool
    public var normalization: PixelNormalization

    public init(patchSize: Int = 14, temporalPatchSize: Int = 2, mergeSize: Int = 2, minPixels: Int = 56 * 56,
                maxPixels: Int = 28 * 28 * 1280, resize: Bool = true,
                normalization: PixelNormalization = PixelNormalization(mean: [0.48145466, 0.4578275, 0.40821073],
                                                                       std: [0.26862954, 0.26130258, 0.27577711])) {
        self.patchSize = patchSize
        self.temporalPatchSize = temporalPatchSize
        self.mergeSize = mergeSize
        self.minPixels = minPixels
        self.maxPixels = maxPixels
        self.resize = resize
        self.normalization = normalization
    }

    /// Reads a preprocessor_config.json (at most `Limits.configFileBytes`).
    public init(path: String) throws {
        let json: JSONValue
        do { json = try ModelSpec.readJSON(path) } catch let e as ModelSpecError {
            throw ForwardError(.config, e.summary.replacingOccurrences(of: "config.json", with: "preprocessor_config.json"),
                               file: path, byteOffset: e.byteOffset, hint: e.hint, underlying: e.underlying ?? e)
        }
        do { try self.init(json: json) } catch var e as ForwardError {
            e.file = path
            throw e
        }
    }

    /// Parses the JSON object; every field present must have the right type and range, and those absent
    /// keep their value in `defaults` (the image processor's defaults unless a caller, such as the video
    /// processor, has its own).
    public init(json: JSONValue, defaults: ImageProcessorConfig = ImageProcessorConfig()) throws {
        guard json.objectMembers != nil else { throw ForwardError(.config, "preprocessor_config.json is not a JSON object") }
        self = defaults
        func int(_ key: String, _ range: ClosedRange<Int>, in object: JSONValue = json, name: String? = nil) throws -> Int? {
            guard let v = object[key], !v.isNull else { return nil }
            guard let n = v.intValue, range.contains(n) else {
                throw ForwardError(.config, "\(name ?? key) must be an integer in \(range.lowerBound)…\(range.upperBound)", key: name ?? key)
            }
            return n
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let b = v.boolValue else { throw ForwardError(.config, "\(key) must be true or false", key: key) }
            return b
        }
        func doubles(_ key: String) throws -> [Double]? {
            guard let v = json[key], !v.isNull else { return nil }
            if let d = v.doubleValue { return [d, d, d] }
            guard let a = v.arrayValue, (1...Limits.smallFactor).contains(a.count) else {
                throw ForwardError(.config, "\(key) must be a number or a list of numbers", key: key)
            }
            return try a.map {
                guard let d = $0.doubleValue, d.isFinite else { throw ForwardError(.config, "\(key) holds a non-number", key: key) }
                return d
            }
        }
        patchSize = try int("patch_size", 1...Limits.patchSize) ?? patchSize
        temporalPatchSize = try int("temporal_patch_size", 1...Limits.smallFactor) ?? temporalPatchSize
        mergeSize = try int("merge_size", 1...Limits.smallFactor) ?? mergeSize
        if let size = json["size"], !size.isNull {
            guard size.objectMembers != nil else { throw ForwardError(.config, "size must be an object", key: "size") }
            minPixels = try int("shortest_edge", 1...Limits.imagePixels, in: size, name: "size.shortest_edge") ?? minPixels
            maxPixels = try int("longest_edge", 1...Int(Int32.max), in: size, name: "size.longest_edge") ?? maxPixels
        }
        minPixels = try int("min_pixels", 1...Limits.imagePixels) ?? minPixels
        maxPixels = try int("max_pixels", 1...Int(Int32.max), in: json) ?? maxPixels
        guard minPixels <= maxPixels else {
            throw ForwardError(.config, "min pixels \(minPixels) exceed max pixels \(maxPixels)", key: "size")
        }
        resize = try bool("do_resize") ?? resize
        if let resample = try int("resample", 0...5), resample != 3 {
            throw ForwardError(.config, "resample \(resample) is not supported; only 3 (bicubic, what Qwen-VL uses) is", key: "resample")
        }
        if try bool("do_convert_rgb") == false {
            throw ForwardError(.config, "do_convert_rgb false is not supported (images are always converted to RGB)", key: "do_convert_rgb")
        }
        if try bool("do_rescale") == false {
            normalization.rescaleFactor = nil
        } else if let f = json["rescale_factor"], !f.isNull {
            guard let d = f.doubleValue, d.isFinite, d > 0 else {
                throw ForwardError(.config, "rescale_factor must be a positive number", key: "rescale_factor")
            }
            normalization.rescaleFactor = d
        }
        if try bool("do_normalize") == false {
            normalization.mean = nil
            normalization.std = nil
        } else {
            normalization.mean = try doubles("image_mean") ?? normalization.mean
            normalization.std = try doubles("image_std") ?? normalization.std
            if let std = normalization.std, std.contains(0) {
                throw ForwardError(.config, "image_std holds 0", key: "image_std")
            }
        }
    }

    /// Checks that the processor cuts patches the vision tower was built for.
    public func check(against vision: VisionConfig) throws {
        for (name, mine, model) in [("patch_size", patchSize, vision.patchSize),
                                    ("temporal_patch_size", temporalPatchSize, vision.temporalPatchSize),
                                    ("merge_size", mergeSize, vision.spatialMergeSize)] where mine != model {
            throw ForwardError(.config, "preprocessor_config.json has \(name) \(mine) but the model's vision_config has \(model)",
                               key: name, hint: "use the preprocessor_config.json that came with the checkpoint")
        }
        if let mean = normalization.mean, mean.count != vision.inChannels {
            throw ForwardError(.config, "image_mean has \(mean.count) values for \(vision.inChannels) channels", key: "image_mean")
        }
        if let std = normalization.std, std.count != vision.inChannels {
            throw ForwardError(.config, "image_std has \(std.count) values for \(vision.inChannels) channels", key: "image_std")
        }
    }
}
