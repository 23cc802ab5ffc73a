import ArgumentParser
import Forward
import ForwardCheckpoint

/// `--image FILE…` and `--preprocessor-config FILE` of `forward` and `verify`: real images through
/// Qwen3-VL's image processor, put into the prompt as `<|vision_start|><|image_pad|>…<|vision_end|>`.
struct ImageOptions: ParsableArguments {
    @Option(name: .customLong("image"), parsing: .singleValue,
            help: "A PNG or JPEG image for the prompt (repeatable). Expanded in place of each <|image_pad|> id of --inputs, or put before its ids (or before the text of --prompt).",
            completion: .file(extensions: ["png", "jpg", "jpeg"]))
    var images: [String] = []
    @Option(help: "The image processor's preprocessor_config.json (default: the one beside the checkpoint's config.json).",
            completion: .file(extensions: ["json"]))
    var preprocessorConfig: String?

    func validate() throws {
        if preprocessorConfig != nil && images.isEmpty { throw ValidationError("--preprocessor-config needs --image") }
    }

    /// The prompts to run: `loadInputs` with the images added.
    func inputs(_ pass: ForwardPassOptions, model: ForwardModel) throws -> [(name: String, inputs: ForwardInputs)] {
        try ImageFileInputs.loadInputs(path: pass.inputs, prefix: pass.prefix, images: images, preprocessorConfig: preprocessorConfig,
                                       companionDirectory: model.companionDirectory, config: model.config)
    }
}
