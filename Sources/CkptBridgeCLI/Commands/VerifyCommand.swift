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

        Example:
          ckpt-bridge import ./hf ./megatron --tp 2 --ep 2 && ckpt-bridge verify ./hf ./megatron
        """
    )

    @Argument(help: "The Hugging Face checkpoint.", completion: .directory)
    var hfDir: String
    @Argument(help: "The Megatron checkpoint (torch_dist or legacy), or another HF checkpoint.", completion: .directory)
    var megatronDir: String
    @OptionGroup(title: "Forward pass") var pass: ForwardPassOptions
    @Option(help: "Largest allowed absolute logit difference.")
    var maxAbs: Double = 5e-5
    @Flag(help: "Print JSON.")
    var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        var ok = true
        try runReportingErrors(verbose: global.verbose) {
            let hf = try ForwardModel.open(hfDir, hfConfig: nil)
            let meg = try ForwardModel.open(megatronDir, hfConfig: nil)
            let options = pass.options
            let a = Qwen3VLForward(config: hf.config, weights: hf.weights, options: options)
            let b = Qwen3VLForward(config: meg.config, weights: meg.weights, options: options)
            var reports = [JSONValue]()
            for (name, input) in try loadInputs(path: pass.inputs, prefix: pass.prefix, config: hf.config) {
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
            if json {
                print(JSONWriter.write(.object([("hf", .string(hf.kind)), ("megatron", .string(meg.kind)), ("max_abs_tolerance", .number("\(maxAbs)")),
                                                ("pass", .bool(ok)), ("inputs", .array(reports))])))
            } else {
                print(ok ? "verify: PASS (\(hf.kind) vs \(meg.kind), tolerance \(maxAbs))"
                         : "verify: FAIL: logits differ beyond \(maxAbs) or an argmax disagrees")
            }
        }
        if !ok { throw ExitCode(Status.different) }
    }
}
