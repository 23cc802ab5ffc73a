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

        --prompt TEXT compares both on a real prompt (the Qwen3-VL chat format, --raw: as it is, tokenized \
        with the HF checkpoint's tokenizer); --generate N also decodes N tokens greedily on each side and \
        requires the two continuations to agree token for token.

        Examples:
          ckpt-bridge import ./hf ./megatron --tp 2 --ep 2 && ckpt-bridge verify ./hf ./megatron
          ckpt-bridge verify ./hf ./megatron --prompt "Describe Megatron-Core." --generate 16
        """
    )

    @Argument(help: "The Hugging Face checkpoint.", completion: .directory)
    var hfDir: String
    @Argument(help: "The Megatron checkpoint (torch_dist or legacy), or another HF checkpoint.", completion: .directory)
    var megatronDir: String
    @OptionGroup(title: "Forward pass") var pass: ForwardPassOptions
    @OptionGroup(title: "Prompt") var prompt: PromptOptions
    @Option(help: "With --prompt: also generate N tokens greedily on both sides and compare them token by token.")
    var generate: Int?
    @Option(help: "Largest allowed absolute logit difference.")
    var maxAbs: Double = 5e-5
    @Flag(help: "Print JSON.")
    var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if prompt.prompt != nil && (pass.inputs != nil || pass.prefix != nil) { throw ValidationError("--prompt and --inputs/--prefix exclude each other") }
        if let generate {
            guard prompt.prompt != nil else { throw ValidationError("--generate needs --prompt") }
            if generate < 1 { throw ValidationError("--generate must be at least 1, not \(generate)") }
        }
    }

    func run() throws {
        var ok = true
        try runReportingErrors(verbose: global.verbose) {
            let hf = try ForwardModel.open(hfDir, hfConfig: nil)
            let meg = try ForwardModel.open(megatronDir, hfConfig: nil)
            let options = pass.options
            let a = Qwen3VLForward(config: hf.config, weights: hf.weights, options: options)
            let b = Qwen3VLForward(config: meg.config, weights: meg.weights, options: options)
            var reports = [JSONValue]()
            let prepared = try prompt.prepare(for: hf)
            let inputs = try prepared.map { [("prompt", $0.inputs)] } ?? loadInputs(path: pass.inputs, prefix: pass.prefix, config: hf.config)
            for (name, input) in inputs {
                let x = try a.run(input), y = try b.run(input)
                let c = try LogitComparison(y.logits, reference: x.logits, vocabSize: x.vocabSize)
                let pass = c.passes(maxAbs: maxAbs)
                ok = ok && pass
                let agree = c.argmaxMatches.map { $0 ? "✓" : "✗" }.joined()
                if json {
                    reports.append(.object([("input", .string(name)), ("tokens", .int(c.positions)), ("max_abs", .number("\(c.maxAbsDiff)")),
                                            ("mean_abs", .number("\(c.meanAbsDiff)")), ("cosine", .number("\(c.cosine)")), ("nmse", .number("\(c.nmse)")),
                                            ("argmax_agreement", .int(c.argmaxAgreement)), ("pass", .bool(pass))]))
                } else {
                    print("\(name) (\(c.positions) tokens): max abs \(String(format: "%.3e", c.maxAbsDiff)) (position \(c.worstPosition)), " +
                          "mean abs \(String(format: "%.3e", c.meanAbsDiff)), cosine \(String(format: "%.9f", c.cosine)), " +
                          "NMSE \(String(format: "%.3e", c.nmse)), argmax \(c.argmaxAgreement)/\(c.positions) \(agree)  \(pass ? "PASS" : "FAIL")")
                }
            }
            var generation: JSONValue = .null
            if let prepared, let n = generate {
                let x = try a.generate(prepared.inputs, maxNewTokens: n, stopTokens: prepared.stopTokens)
                let y = try b.generate(prepared.inputs, maxNewTokens: n, stopTokens: prepared.stopTokens)
                let same = x.tokens == y.tokens
                ok = ok && same
                let firstDifference = zip(x.tokens, y.tokens).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(x.tokens.count, y.tokens.count)
                let text = { (g: Generation) in try prepared.tokenizer.decode(g.tokens, skipSpecialTokens: true, skipUnknown: true) }
                if json {
                    generation = .object([("hf_ids", .ints(x.tokens)), ("megatron_ids", .ints(y.tokens)), ("hf_text", .string(try text(x))),
                                          ("megatron_text", .string(try text(y))), ("agree", .bool(same))])
                } else {
                    print("generate \(n): HF \(JSONWriter.quote(try text(x)))")
                    print("generate \(n): Megatron \(JSONWriter.quote(try text(y)))")
                    print(same ? "generate: the greedy continuations agree (\(x.tokens.count) tokens)"
                               : "generate: the continuations differ from token \(firstDifference)")
                }
            }
            if json {
                print(JSONWriter.write(.object([("hf", .string(hf.kind)), ("megatron", .string(meg.kind)), ("max_abs_tolerance", .number("\(maxAbs)")),
                                                ("pass", .bool(ok)), ("inputs", .array(reports)), ("generate", generation)])))
            } else {
                print(ok ? "verify: PASS (\(hf.kind) vs \(meg.kind), tolerance \(maxAbs))"
                         : "verify: FAIL: logits differ beyond \(maxAbs), an argmax disagrees, or the continuations differ")
            }
        }
        if !ok { throw ExitCode(Status.different) }
    }
}
