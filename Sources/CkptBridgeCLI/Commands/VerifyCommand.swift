import ArgumentParser
import Bridge
import Forward
import ForwardCheckpoint
import Foundation
import TensorCore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove a conversion: run both checkpoints through the forward pass and compare their logits.",
        discussion: """
        The HF checkpoint is read with HF semantics, the Megatron one with Megatron's; the two readers \
        share no code with the converter, so a mapping bug cannot cancel itself out. Without --inputs, a \
        built-in text prompt and a synthetic image prompt are used.

        Reports, per input: max and mean absolute difference, cosine, NMSE, and argmax agreement per \
        position. Exit status 0 when every input is within --max-abs and every argmax agrees, 1 when not, \
        2 on error.

        --image FILE (PNG or JPEG, repeatable) adds real images, processed with the HF folder's \
        preprocessor_config.json, to --inputs (or runs them alone); see `forward --help`.

        --prompt TEXT compares both on a real prompt (the Qwen3-VL chat format, --raw: as it is, tokenized \
        with the HF checkpoint's tokenizer); --generate N also decodes N tokens greedily on each side and \
        requires the two continuations to agree token for token. --video DIR --fps F adds a video (a \
        folder of frames) to the prompt; see `forward --help`.

        Examples:
          ckpt-bridge import ./hf ./megatron --tp 2 --ep 2 && ckpt-bridge verify ./hf ./megatron
          ckpt-bridge verify ./hf ./training-run --iteration 3      (one save of a training run)
          ckpt-bridge verify ./hf ./megatron --image photo.png
          ckpt-bridge verify ./hf ./megatron --prompt "Describe Megatron-Core." --generate 16
          ckpt-bridge verify ./hf ./megatron --prompt "What happens?" --video frames/ --fps 24 --generate 8
        """
    )

    @Argument(help: "The Hugging Face checkpoint.", completion: .directory)
    var hfDir: String
    @Argument(help: "The Megatron checkpoint (torch_dist or legacy), or another HF checkpoint.", completion: .directory)
    var megatronDir: String
    @OptionGroup(title: "Forward pass") var pass: ForwardPassOptions
    @OptionGroup(title: "Images") var image: ImageOptions
    @OptionGroup(title: "Video") var video: VideoOptions
    @OptionGroup(title: "Prompt") var prompt: PromptOptions
    @Option(help: "With --prompt: also generate N tokens greedily on both sides and compare them token by token.")
    var generate: Int?
    @Option(help: "Largest allowed absolute logit difference.")
    var maxAbs: Double = 5e-5
    @Flag(help: "Print JSON.")
    var json = false
    @OptionGroup var iteration: IterationOption
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try video.requirePrompt(prompt)
        try prompt.validate(with: pass)
        if let generate {
            guard prompt.prompt != nil else { throw ValidationError("--generate needs --prompt") }
            if generate < 1 { throw ValidationError("--generate must be at least 1, not \(generate)") }
        }
    }

    func run() throws {
        var ok = true
        try runReportingErrors(verbose: global.verbose) {
            let v = try Verification.run(hfDir: hfDir, megatronDir: try iteration.resolveIfMegatron(megatronDir),
                                         inputs: pass.inputs, prefix: pass.prefix,
                                         images: image.images, preprocessorConfig: image.preprocessorConfig,
                                         prompt: prompt.request, video: video.request, tokenizer: prompt.tokenizer, generate: generate,
                                         options: pass.options, maxAbs: maxAbs)
            ok = v.passes
            if json {
                print(JSONWriter.write(v.reportJSON))
                return
            }
            for k in v.cases {
                let c = k.comparison
                let agree = c.argmaxMatches.map { $0 ? "✓" : "✗" }.joined()
                print("\(k.input) (\(c.positions) tokens): max abs \(String(format: "%.3e", c.maxAbsDiff)) (position \(c.worstPosition)), " +
                      "mean abs \(String(format: "%.3e", c.meanAbsDiff)), cosine \(String(format: "%.9f", c.cosine)), " +
                      "NMSE \(String(format: "%.3e", c.nmse)), argmax \(c.argmaxAgreement)/\(c.positions) \(agree)  \(k.passes ? "PASS" : "FAIL")")
            }
            if let g = v.generation {
                print("generate \(generate ?? 0): HF \(JSONWriter.quote(g.hfText))")
                print("generate \(generate ?? 0): Megatron \(JSONWriter.quote(g.megatronText))")
                print(g.firstDifference.map { "generate: the continuations differ from token \($0)" }
                      ?? "generate: the greedy continuations agree (\(g.hf.count) tokens)")
            }
            print(ok ? "verify: PASS (\(v.hfKind) vs \(v.megatronKind), tolerance \(maxAbs))"
                     : "verify: FAIL: logits differ beyond \(maxAbs), an argmax disagrees, or the continuations differ")
        }
        if !ok { throw ExitCode(Status.different) }
    }
}
