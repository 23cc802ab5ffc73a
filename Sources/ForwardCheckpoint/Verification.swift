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
    /// With a prompt and a token count: both sides' greedy continuations.
    public var generation: GenerationComparison?

    /// Both sides' greedy continuations of the same prompt, decoded with its tokenizer.
    public struct GenerationComparison {
        public var hf: [Int]
        public var megatron: [Int]
        public var hfText: String
        public var megatronText: String
        /// Token for token the same.
        public var agree: Bool { hf == megatron }
        /// The first step at which they differ (the shorter length when one is a prefix of the other).
        public var firstDifference: Int? {
            agree ? nil : zip(hf, megatron).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(hf.count, megatron.count)
        }
    }

    /// Every input within `maxAbs` and with the same argmax at every position, and the continuations (if
    /// generated) the same.
    public var passes: Bool { cases.allSatisfy(\.passes) && (generation?.agree ?? true) }

    /// Opens both checkpoints and runs every input of `inputs` (or the built-in ones) through both; `images`
    /// (PNG/JPEG files) are processed with the HF side's preprocessor_config.json (or `preprocessorConfig`)
    /// and added to those inputs (or run alone), as `ImageFileInputs.loadInputs` does. With `prompt`, the
    /// prompt (tokenized with the HF side's tokenizer, or `tokenizer`, images before its text) is the one
    /// input instead (with `video`'s frames after the images), and `generate` tokens are decoded greedily on both sides and compared.
    public static func run(hfDir: String, megatronDir: String, inputs: String?, prefix: String?,
                           images: [String] = [], preprocessorConfig: String? = nil,
                           prompt: PromptRequest? = nil, video: VideoRequest? = nil, tokenizer: String? = nil, generate: Int? = nil,
                           options: ForwardOptions, maxAbs: Double) throws -> Verification {
        let hf = try ForwardModel.open(hfDir, hfConfig: nil)
        let meg = try ForwardModel.open(megatronDir, hfConfig: nil)
        let a = Qwen3VLForward(config: hf.config, weights: hf.weights, options: options)
        let b = Qwen3VLForward(config: meg.config, weights: meg.weights, options: options)
        let prepared = try prompt.map {
            try PreparedPrompt($0, for: hf, images: images, preprocessorConfig: preprocessorConfig, video: video, tokenizerDirectory: tokenizer)
        }
        let prompts = try prepared.map { [("prompt", $0.inputs)] }
            ?? ImageFileInputs.loadInputs(path: inputs, prefix: prefix, images: images, preprocessorConfig: preprocessorConfig,
                                          companionDirectory: hf.companionDirectory, config: hf.config)
        var cases = [Case]()
        for (name, input) in prompts {
            let x = try a.run(input), y = try b.run(input)
            let c = try LogitComparison(y.logits, reference: x.logits, vocabSize: x.vocabSize)
            cases.append(Case(input: name, comparison: c, passes: c.passes(maxAbs: maxAbs)))
        }
        var generation: GenerationComparison?
        if let prepared, let n = generate {
            let x = try a.generate(prepared.inputs, maxNewTokens: n, stopTokens: prepared.stopTokens).tokens
            let y = try b.generate(prepared.inputs, maxNewTokens: n, stopTokens: prepared.stopTokens).tokens
            generation = GenerationComparison(hf: x, megatron: y, hfText: try prepared.text(of: x), megatronText: try prepared.text(of: y))
        }
        return Verification(hfKind: hf.kind, megatronKind: meg.kind, maxAbs: maxAbs, cases: cases, generation: generation)
    }

    /// `verify --json`.
    public var reportJSON: JSONValue {
        .object([("hf", .string(hfKind)), ("megatron", .string(megatronKind)), ("max_abs_tolerance", .number("\(maxAbs)")),
                 ("pass", .bool(passes)), ("inputs", .array(cases.map { k in
                     let c = k.comparison
                     return .object([("input", .string(k.input)), ("tokens", .int(c.positions)), ("max_abs", .number("\(c.maxAbsDiff)")),
                                     ("mean_abs", .number("\(c.meanAbsDiff)")), ("cosine", .number("\(c.cosine)")), ("nmse", .number("\(c.nmse)")),
                                     ("argmax_agreement", .int(c.argmaxAgreement)), ("pass", .bool(k.passes))])
                 })),
                 ("generate", generation.map { g in
                     .object([("hf_ids", .ints(g.hf)), ("megatron_ids", .ints(g.megatron)), ("hf_text", .string(g.hfText)),
                              ("megatron_text", .string(g.megatronText)), ("agree", .bool(g.agree))])
                 } ?? .null)])
    }
}
