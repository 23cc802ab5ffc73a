import ArgumentParser
import Bridge
import Forward
import ForwardCheckpoint
import Foundation
import TensorCore

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run the fp32 CPU reference forward pass of a Qwen3-VL checkpoint and write its logits.",
        discussion: """
        CHECKPOINT is a Hugging Face folder or a Megatron checkpoint (torch_dist or legacy, any layout); \
        Megatron weights are read by their own names with Megatron's runtime semantics (fused QKV split \
        per query group, fc1 chunked into gate and up, experts as [L,E,2I,H]), independently of the \
        converter. Weights are read layer by layer from the mapped files, so memory stays near one layer.

        The inputs file is safetensors with input_ids (I64 [1,S]) and optionally pixel_values \
        (F32 [P, C·T·patch²]) and image_grid_thw (I64 [n,3]), as the transformers processor makes them. \
        The output holds logits (F32 [1,S,V]). Or --prompt TEXT: a real prompt, written as one user turn of \
        the Qwen3-VL chat format (--raw: as it is) and tokenized with the checkpoint's tokenizer.

        --image runs real PNG or JPEG images through Qwen3-VL's image processor (transformers' \
        Qwen2VLImageProcessor with its PIL backend: smart resize, Pillow-exact bicubic, rescale, \
        normalize, patches) with the checkpoint's preprocessor_config.json. Each image becomes \
        <|vision_start|> <|image_pad|>×(merged patches) <|vision_end|>: in place of each <|image_pad|> \
        id of --inputs, or before its ids (or alone, without --inputs). --save-inputs writes the \
        prompt as built (input_ids, pixel_values, image_grid_thw) for another runtime.

        --video DIR --fps F (with --prompt) adds a video given as a folder of frames, through Qwen3-VL's \
        video processor with the checkpoint's video_preprocessor_config.json (frame sampling, one smart \
        resize for the clip, temporal patches); per temporal patch the prompt gets <t seconds> and its \
        <|video_pad|> tokens, and --save-inputs adds pixel_values_videos and video_grid_thw.

        Examples:
          ckpt-bridge forward ./megatron --inputs prompt.safetensors --out logits.safetensors
          ckpt-bridge forward ./hf --image cat.jpg --inputs ids.safetensors --out logits.safetensors --save-inputs built.safetensors
          ckpt-bridge forward ./hf --prompt "What is a tensor?" --out logits.safetensors
          ckpt-bridge forward ./hf --prompt "What happens?" --video frames/ --fps 24 --out logits.safetensors
        """
    )

    @Argument(help: "The checkpoint (HF folder, torch_dist or legacy folder).", completion: .directory)
    var checkpoint: String
    @OptionGroup(title: "Forward pass") var pass: ForwardPassOptions
    @OptionGroup(title: "Prompt") var prompt: PromptOptions
    @Option(help: "Where to write the logits (safetensors).", completion: .file(extensions: ["safetensors"]))
    var out: String
    @Option(help: "HF folder with config.json, for Megatron checkpoints that carry none.", completion: .directory)
    var hfConfig: String?
    @OptionGroup var iteration: IterationOption
    @OptionGroup(title: "Images") var image: ImageOptions
    @OptionGroup(title: "Video") var video: VideoOptions
    @Option(help: "Also write the inputs as run (input_ids, pixel_values, image_grid_thw) to this safetensors file.",
            completion: .file(extensions: ["safetensors"]))
    var saveInputs: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try video.requirePrompt(prompt)
        try prompt.validate(with: pass)
    }

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let start = Date()
            let model = try ForwardModel.open(try iteration.resolveIfMegatron(checkpoint), hfConfig: hfConfig)
            let input = try prompt.prepare(for: model, images: image, video: video)?.inputs ?? image.inputs(pass, model: model)[0].inputs
            if let saveInputs { try input.save(to: saveInputs) }
            let forward = Qwen3VLForward(config: model.config, weights: model.weights,
                                         options: pass.options)
            let t0 = Date()
            let output = try forward.run(input)
            let compute = Date().timeIntervalSince(t0)
            try output.save(to: out)
            let tokens = input.inputIds.count
            print("forward (\(model.kind)): \(tokens) tokens → logits \(Shape.describe(output.shape)) in \(String(format: "%.3f", compute)) s " +
                  "(\(String(format: "%.1f", Double(tokens) / max(compute, 1e-9))) tokens/s; \(String(format: "%.2f", Date().timeIntervalSince(start))) s total) → \(out)")
        }
    }
}
