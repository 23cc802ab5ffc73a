import Bridge
import Forward
import ImageCodecs
import TensorCore

/// A video given as a folder of frames (`--video DIR --fps F`): the PNG and JPEG files in it, sorted by
/// name, decoded and run through Qwen3-VL's video processor with the model's
/// `video_preprocessor_config.json` (or, as transformers falls back to it, its `preprocessor_config.json`).
public enum VideoFileInputs {
    /// File name endings taken as frames; anything else in the folder is refused rather than skipped.
    static let frameExtensions = [".png", ".jpg", ".jpeg"]

    /// The processor config: `explicit` when given, else `video_preprocessor_config.json` or
    /// `preprocessor_config.json` beside the model's config.
    public static func processorConfig(explicit: String?, companionDirectory: String?) throws -> VideoProcessorConfig {
        if let explicit { return try VideoProcessorConfig(path: explicit) }
        for name in ["video_preprocessor_config.json", "preprocessor_config.json"] {
            if let dir = companionDirectory, FileSystem.isFile(FileSystem.join(dir, name)) {
                return try VideoProcessorConfig(path: FileSystem.join(dir, name))
            }
        }
        throw BridgeError(.request, "--video needs the model's video_preprocessor_config.json (or preprocessor_config.json), and the checkpoint has neither",
                          file: companionDirectory, hint: "pass --video-preprocessor-config FILE (the one from the original Hugging Face folder)")
    }

    /// The frame files of `folder`, sorted by name.
    public static func framePaths(_ folder: String) throws -> [String] {
        guard FileSystem.isDirectory(folder) else {
            throw BridgeError(.request, "--video must be a folder of frame images", file: folder,
                              hint: "extract the frames first, e.g. ffmpeg -i clip.mp4 DIR/%05d.png, and pass --fps with their rate")
        }
        let names = try FileSystem.list(folder).filter { !$0.hasPrefix(".") }
        for name in names where !frameExtensions.contains(where: { name.lowercased().hasSuffix($0) }) {
            throw BridgeError(.request, "the video folder holds '\(name)', which is not a PNG or JPEG frame", file: folder,
                              hint: "keep only the frames (.png, .jpg, .jpeg) in the folder")
        }
        guard !names.isEmpty else { throw BridgeError(.request, "the video folder has no frames", file: folder) }
        guard names.count <= Limits.videoFrames else {
            throw BridgeError(.request, "the video folder has \(names.count) frames, more than \(Limits.videoFrames)", file: folder)
        }
        return names.map { FileSystem.join(folder, $0) }
    }

    /// The frames of `folder` at `fps`, processed for a model with `config`.
    public static func process(_ folder: String, fps: Double, preprocessorConfig: String?, companionDirectory: String?,
                               config: ModelConfig) throws -> VideoProcessor.Output {
        guard let vision = config.vision else {
            throw BridgeError(.request, "--video needs a model with a vision tower; this config has no vision_config")
        }
        let processor = try VideoProcessor(config: try processorConfig(explicit: preprocessorConfig, companionDirectory: companionDirectory),
                                           vision: vision)
        let paths = try framePaths(folder)
        // Sampled first, so only the kept frames stay in memory; every frame is still decoded, to check
        // that the clip has one size as transformers' stacked video does.
        let indices = try VideoSampling.indices(total: paths.count, fps: fps, config: processor.config)
        let wanted = Set(indices)
        var kept = [Int: [UInt8]](), size: (height: Int, width: Int)?
        for (n, path) in paths.enumerated() {
            let image = try ImageDecoder.decode(path: path)
            if let size, (size.height, size.width) != (image.height, image.width) {
                throw BridgeError(.request, "frame is \(image.height)×\(image.width) but the first frame is \(size.height)×\(size.width)",
                                  file: path, hint: "give frames of one size")
            }
            size = (image.height, image.width)
            if wanted.contains(n) { kept[n] = image.pixels }
        }
        guard let size else { throw BridgeError(.request, "the video folder has no frames", file: folder) }
        do {
            return try processor.process(sampled: indices.map { kept[$0] ?? [] }, indices: indices, height: size.height, width: size.width,
                                         fps: fps)
        } catch var e as ForwardError {
            e.file = e.file ?? folder
            throw e
        }
    }
}
