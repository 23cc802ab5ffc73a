import ArgumentParser
import ForwardCheckpoint

/// `--video DIR --fps F [--video-preprocessor-config FILE]` of `forward`, `verify` and `generate`: a clip as
/// a folder of frames through Qwen3-VL's video processor, put into a `--prompt` after its images as
/// `<t seconds><|vision_start|><|video_pad|>…<|vision_end|>` per temporal patch.
struct VideoOptions: ParsableArguments {
    @Option(help: "A folder of PNG/JPEG frames of one video, taken in name order (with --prompt).", completion: .directory)
    var video: String?
    @Option(help: "The frame rate of the --video frames (frames per second); sets the timestamps and which frames are sampled.")
    var fps: Double?
    @Option(help: "The video processor's config (default: video_preprocessor_config.json, else preprocessor_config.json, beside the checkpoint's config.json).",
            completion: .file(extensions: ["json"]))
    var videoPreprocessorConfig: String?

    func validate() throws {
        if video == nil && (fps != nil || videoPreprocessorConfig != nil) {
            throw ValidationError("--fps and --video-preprocessor-config go with --video")
        }
        if video != nil {
            guard let fps else { throw ValidationError("--video needs --fps (the frames' rate, e.g. --fps 24)") }
            guard fps.isFinite, fps > 0 else { throw ValidationError("--fps must be a positive number, not \(fps)") }
        }
    }

    /// The video as asked for; nil without --video.
    var request: VideoRequest? {
        guard let video, let fps else { return nil }
        return VideoRequest(folder: video, fps: fps, preprocessorConfig: videoPreprocessorConfig)
    }

    /// Fails when --video is given without --prompt (its timestamps and pads are written by the chat format).
    func requirePrompt(_ prompt: PromptOptions) throws {
        if video != nil && prompt.prompt == nil {
            throw ValidationError("--video needs --prompt (the chat format writes the video's timestamps and tokens)")
        }
    }
}
