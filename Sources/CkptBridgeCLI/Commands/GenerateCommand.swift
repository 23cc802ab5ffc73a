import ArgumentParser
import Forward
import ForwardCheckpoint
import Foundation
import TensorCore

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Greedy text generation from a prompt with the CPU reference model, on HF or Megatron weights.",
        discussion: """
        The prompt is written as one user turn of the Qwen3-VL chat format (--raw: as it is) and tokenized \
        with the checkpoint's tokenizer (the HF folder's tokenizer.json, or the hf_config/ that import \
        writes into a Megatron checkpoint; --tokenizer DIR to choose). Decoding is greedy (the argmax at each \
        step, as transformers' generate(do_sample=False)) with a KV cache, and stops at the tokenizer's \
        eos_token or generation_config.json's eos_token_id, or after --max-new-tokens.

        Prints the generated text (ids without a token, from a model's padded vocabulary rows, are left \
        out of it, as transformers' decode leaves them out); --json adds the prompt and generated ids and, per step, the five highest \
        logits.

        Examples:
          ckpt-bridge generate ./Qwen3-VL-8B-Instruct --prompt "Name three primary colors."
          ckpt-bridge generate ./megatron --prompt "Hello" --max-new-tokens 8 --json
          ckpt-bridge generate ./Qwen3-VL-8B-Instruct --image cat.jpg --prompt "Describe the image."
          ckpt-bridge generate ./Qwen3-VL-8B-Instruct --video frames/ --fps 24 --prompt "What happens?"
          ckpt-bridge generate ./hf --prompt "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n" --raw
        """
    )

    @Argument(help: "The checkpoint (HF folder, torch_dist or legacy folder).", completion: .directory)
    var checkpoint: String
    @OptionGroup(title: "Prompt") var prompt: PromptOptions
    @Option(help: "Most tokens to generate.")
    var maxNewTokens = 32
    @Option(help: "HF folder with config.json, for Megatron checkpoints that carry none.", completion: .directory)
    var hfConfig: String?
    @OptionGroup var iteration: IterationOption
    @OptionGroup(title: "Images") var image: ImageOptions
    @OptionGroup(title: "Video") var video: VideoOptions
    @Option(help: "BLAS threads (default: the number of cores).")
    var threads: Int?
    @Flag(help: "Print JSON: ids, text, and the top-5 logits of every step.")
    var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try video.requirePrompt(prompt)
        guard prompt.prompt != nil else { throw ValidationError("generate needs --prompt TEXT") }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1, not \(maxNewTokens)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, not \(threads)") }
    }

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let model = try ForwardModel.open(try iteration.resolveIfMegatron(checkpoint), hfConfig: hfConfig)
            guard let prepared = try prompt.prepare(for: model, images: image, video: video) else { return }
            let forward = Qwen3VLForward(config: model.config, weights: model.weights, options: ForwardOptions(threads: threads))
            let t0 = Date()
            let generation = try forward.generate(prepared.inputs, maxNewTokens: maxNewTokens, stopTokens: prepared.stopTokens)
            let seconds = Date().timeIntervalSince(t0)
            let text = try prepared.text(of: generation.tokens)
            if json {
                print(JSONWriter.write(Self.report(model: model, prepared: prepared, generation: generation, text: text, seconds: seconds)))
            } else {
                print(text)
                var err = StandardError()
                print("generate (\(model.kind)): \(generation.promptTokens) prompt tokens, \(generation.steps.count) generated" +
                      (generation.stopped ? " (stopped at end of sequence)" : "") +
                      " in \(String(format: "%.2f", seconds)) s", to: &err)
            }
        }
    }

    static func report(model: ForwardModel, prepared: PreparedPrompt, generation: Generation, text: String, seconds: Double) -> JSONValue {
        let steps: [JSONValue] = generation.steps.map { s in
            .object([("token", JSONValue.int(s.token)),
                     ("top", .array(s.top.map { .object([("id", JSONValue.int($0.id)), ("logit", .number("\($0.logit)"))]) }))])
        }
        return .object([("checkpoint", .string(model.kind)), ("prompt", .string(prepared.text)),
                        ("prompt_ids", JSONValue.ints(prepared.inputs.inputIds)), ("generated_ids", JSONValue.ints(generation.tokens)),
                        ("text", .string(text)), ("stopped_at_eos", .bool(generation.stopped)),
                        // Ids of the model's padded vocabulary rows, which no token has (left out of the text).
                        ("ids_without_token", JSONValue.ints(generation.tokens.filter { prepared.tokenizer.token(of: $0) == nil })),
                        ("seconds", .number(String(format: "%.3f", seconds))), ("steps", .array(steps))])
    }
}
