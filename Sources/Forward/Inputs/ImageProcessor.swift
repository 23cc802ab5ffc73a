import TensorCore

/// Qwen3-VL's image processor (transformers' `Qwen2VLImageProcessor`, PIL backend): smart resize to
/// multiples of patch·merge within the pixel bounds, Pillow-exact bicubic resampling, rescale and
/// normalisation, the frame repeated `temporal_patch_size` times, and patches in spatial-merge-block
/// order (`ImagePatches`).
public struct ImageProcessor: Sendable {
    public var config: ImageProcessorConfig
    public var vision: VisionConfig

    /// Fails when the processor's patch geometry differs from the vision tower's.
    public init(config: ImageProcessorConfig, vision: VisionConfig) throws {
        try config.check(against: vision)
        self.config = config
        self.vision = vision
    }

    /// The size an image of `height`×`width` is resized to.
    public func targetSize(height: Int, width: Int) throws -> (height: Int, width: Int) {
        guard config.resize else { return (height, width) }
        let factor = config.patchSize * config.mergeSize
        return try SmartResize.size(height: height, width: width, factor: factor,
                                    minPixels: config.minPixels, maxPixels: config.maxPixels)
    }

    /// One RGB image (HWC bytes) → pixel_values [P, C·T·patch²] and its (1, h, w) grid in patches.
    public func process(rgb: [UInt8], height: Int, width: Int) throws -> (pixelValues: [Float], gridTHW: [Int]) {
        guard vision.inChannels == 3 else {
            throw ForwardError(.config, "vision_config.in_channels is \(vision.inChannels); images are RGB")
        }
        let (h, w) = try targetSize(height: height, width: width)
        for side in [h / config.patchSize, w / config.patchSize] where side > Limits.imageGridSide {
            throw ForwardError(.input, "the resized image (\(h)×\(w)) has \(side) patches along a side, above \(Limits.imageGridSide)")
        }
        let resized = BicubicResize.resize(rgb, height: height, width: width, channels: 3, toHeight: h, width: w)
        return try ImagePatches.fromHWC(resized, height: h, width: w, vision: vision, normalization: config.normalization)
    }
}
