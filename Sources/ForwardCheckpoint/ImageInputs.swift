import Bridge
import Forward
import ImageCodecs
import TensorCore

/// Image files (`--image`) turned into forward inputs: decoded (PNG, JPEG), processed with the model's
/// `preprocessor_config.json` (Qwen3-VL's image processor), and put into the prompt as placeholder tokens.
public enum ImageFileInputs {
    /// The processor config: `explicit` when given, else `preprocessor_config.json` beside the model's config.
    public static func processorConfig(explicit: String?, companionDirectory: String?) throws -> ImageProcessorConfig {
        if let explicit { return try ImageProcessorConfig(path: explicit) }
        guard let dir = companionDirectory, FileSystem.isFile(FileSystem.join(dir, "preprocessor_config.json")) else {
            throw BridgeError(.request, "--image needs the model's preprocessor_config.json, and the checkpoint has none",
                              file: companionDirectory.map { FileSystem.join($0, "preprocessor_config.json") },
                              hint: "pass --preprocessor-config FILE (the one from the original Hugging Face folder)")
        }
        return try ImageProcessorConfig(path: FileSystem.join(dir, "preprocessor_config.json"))
    }

    /// Each image file decoded and processed: pixel_values rows and grid.
    public static func process(_ paths: [String], processor: ImageProcessor) throws -> [(pixelValues: [Float], gridTHW: [Int])] {
        try paths.map { path in
            let image = try ImageDecoder.decode(path: path)
            do { return try processor.process(rgb: image.pixels, height: image.height, width: image.width) } catch var e as ForwardError {
                e.file = e.file ?? path
                throw e
            }
        }
    }

    /// Image files processed for a model with `config`, with `preprocessorConfig` or the one in
    /// `companionDirectory`: the rows of pixel_values and the grid of each, in order.
    public static func process(_ images: [String], preprocessorConfig: String?, companionDirectory: String?,
                               config: ModelConfig) throws -> [(pixelValues: [Float], gridTHW: [Int])] {
        guard !images.isEmpty else { return [] }
        guard let vision = config.vision else {
            throw BridgeError(.request, "--image needs a model with a vision tower; this config has no vision_config")
        }
        let processor = try ImageProcessor(config: try processorConfig(explicit: preprocessorConfig, companionDirectory: companionDirectory),
                                           vision: vision)
        return try process(images, processor: processor)
    }

    /// `loadInputs`, with images: each prompt from `--inputs` (or an empty prompt without it) gets the
    /// images, expanded in place of its `<|image_pad|>` tokens or put before its ids (`ImageInput.combine`).
    public static func loadInputs(path: String?, prefix: String?, images: [String], preprocessorConfig: String?,
                                  companionDirectory: String?, config: ModelConfig) throws -> [(name: String, inputs: ForwardInputs)] {
        guard !images.isEmpty else { return try ForwardCheckpoint.loadInputs(path: path, prefix: prefix, config: config) }
        let processed = try process(images, preprocessorConfig: preprocessorConfig, companionDirectory: companionDirectory, config: config)
        let prompts = try path.map { try ForwardCheckpoint.loadInputs(path: $0, prefix: prefix, config: config) } ?? [("image", ForwardInputs(inputIds: []))]
        return try prompts.map { name, prompt in
            guard prompt.pixelValues == nil else {
                throw BridgeError(.request, "the inputs '\(name)' already hold pixel_values; --image adds images to token ids only",
                                  file: path, hint: "drop --image, or give an inputs file with input_ids only (or --prefix text.)")
            }
            return (name, try ImageInput.combine(ids: prompt.inputIds, images: processed, config: config))
        }
    }
}
