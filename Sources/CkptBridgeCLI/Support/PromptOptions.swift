import ArgumentParser
import Forward
import ForwardCheckpoint
import Tokenizer

/// `--prompt TEXT [--raw] [--system TEXT] [--tokenizer DIR]`: a real prompt, tokenized with the checkpoint's
/// own tokenizer (the HF folder, or the hf_config/ that import writes into a Megatron checkpoint).
struct PromptOptions: ParsableArguments {
    @Option(help: "A text prompt, written as one user turn of the Qwen3-VL chat format and tokenized with the checkpoint's tokenizer.")
    var prompt: String?
    @Flag(help: "Feed --prompt as it is, without the chat format (added tokens such as <|im_start|> are still matched).")
    var raw = false
    @Option(help: "A system message for the chat format.")
    var system: String?
    @Option(help: "The folder with tokenizer.json and tokenizer_config.json (default: the checkpoint's own).", completion: .directory)
    var tokenizer: String?

    func validate() throws {
        if prompt == nil && (raw || system != nil || tokenizer != nil) {
            throw ValidationError("--raw, --system and --tokenizer go with --prompt")
        }
        if raw && system != nil { throw ValidationError("--system needs the chat format; drop --raw") }
    }

    /// A prompt is the whole input: it excludes an inputs file (forward, verify).
    func validate(with pass: ForwardPassOptions) throws {
        if prompt != nil && (pass.inputs != nil || pass.prefix != nil) { throw ValidationError("--prompt and --inputs/--prefix exclude each other") }
    }

    /// The prompt as asked for (not yet tokenized); nil without --prompt.
    var request: PromptRequest? { prompt.map { PromptRequest(text: $0, raw: raw, system: system) } }

    /// The prompt tokenized for `model`, with the images of `images` and then the video of `video` placed
    /// before its text; nil without --prompt.
    func prepare(for model: ForwardModel, images: ImageOptions? = nil, video: VideoOptions? = nil) throws -> PreparedPrompt? {
        guard let request else { return nil }
        return try PreparedPrompt(request, for: model, images: images?.images ?? [], preprocessorConfig: images?.preprocessorConfig,
                                  video: video?.request, tokenizerDirectory: tokenizer)
    }
}
