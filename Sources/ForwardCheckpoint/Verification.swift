import Forward
import TensorCore

/// `verify`: the same inputs through the HF checkpoint and through the Megatron one (or a second HF one),
/// each logit table compared with the HF side as the reference. The CLI prints it and the C ABI returns
/// its JSON; one computation serves both.
public struct Verification {
    /// One input's comparison.
    public struct Case {
        public var input: String
        public var comparison: LogitComparison
        public var passes: Bool
    }

    /// What each side was read as (`ForwardModel.kind`).
    public var hfKind: String
    public var megatronKind: String
    public var maxAbs: Double
    public var cases: [Case]

    /// Every input within `maxAbs` and with the same argmax at every position.
    public var passes: Bool { cases.allSatisfy(\.passes) }

    /// Opens both checkpoints and runs every input of `inputs` (or the built-in ones) through both.
    public static func run(hfDir: String, megatronDir: String, inputs: String?, prefix: String?,
                           options: ForwardOptions, maxAbs: Double) throws -> Verification {
        let hf = try ForwardModel.open(hfDir, hfConfig: nil)
        let meg = try ForwardModel.open(megatronDir, hfConfig: nil)
        let a = Qwen3VLForward(config: hf.config, weights: hf.weights, options: options)
        let b = Qwen3VLForward(config: meg.config, weights: meg.weights, options: options)
        var cases = [Case]()
        for (name, input) in try loadInputs(path: inputs, prefix: prefix, config: hf.config) {
            let x = try a.run(input), y = try b.run(input)
            let c = try LogitComparison(y.logits, reference: x.logits, vocabSize: x.vocabSize)
            cases.append(Case(input: name, comparison: c, passes: c.passes(maxAbs: maxAbs)))
        }
        return Verification(hfKind: hf.kind, megatronKind: meg.kind, maxAbs: maxAbs, cases: cases)
    }

    /// `verify --json`.
    public var reportJSON: JSONValue {
        .object([("hf", .string(hfKind)), ("megatron", .string(megatronKind)), ("max_abs_tolerance", .number("\(maxAbs)")),
                 ("pass", .bool(passes)), ("inputs", .array(cases.map { k in
                     let c = k.comparison
                     return .object([("input", .string(k.input)), ("tokens", .int(c.positions)), ("max_abs", .number("\(c.maxAbsDiff)")),
                                     ("mean_abs", .number("\(c.meanAbsDiff)")), ("cosine", .number("\(c.cosine)")), ("nmse", .number("\(c.nmse)")),
                                     ("argmax_agreement", .int(c.argmaxAgreement)), ("pass", .bool(k.passes))])
                 }))])
    }
}
