import Forward
import Testing

/// The fp32 forward reading Megatron-Core global tensors (by DCP key) against transformers' logits.
@Suite struct MegatronForwardTests {
    struct Case: CustomStringConvertible, Sendable {
        var model: TinyModel
        /// Folder of megatron_global_tensors.safetensors inside the model's fixtures ("" = Megatron-Bridge 0.3.1).
        var store: String
        var layout: MegatronVisionLayout
        var description: String { "\(model) \(store.isEmpty ? "bridge 0.3.1" : store)" }
    }

    static let cases: [Case] = [
        Case(model: .dense, store: "", layout: .hf),
        Case(model: .moe, store: "", layout: .hf),
        Case(model: .dense, store: "bridge06_tp1_ep1/", layout: .megatron),
        Case(model: .moe, store: "bridge06_tp1_ep1/", layout: .megatron),
        Case(model: .dense, store: "bridge06_tp2_ep1/", layout: .megatron),
        Case(model: .moe, store: "bridge06_tp1_ep2/", layout: .megatron),
    ]

    @Test(arguments: cases, ["text", "image"])
    func logitsMatchTransformers(c: Case, prompt: String) throws {
        let weights = try c.model.megatronWeights(c.store)
        #expect(weights.visionLayout == c.layout)
        let r = try compareWithReference(weights, model: c.model, prompt: prompt)
        print("[forward] \(c) megatron \(prompt): \(r)")
        #expect(r.maxAbsDiff <= logitTolerance, "\(r)")
        #expect(r.argmaxAgreement == r.positions, "\(r)")
    }

    /// The two readers are independent yet must produce the same canonical weights, tensor by tensor.
    @Test(arguments: cases)
    func readersAgreeOnEveryWeight(c: Case) throws {
        let hf = try c.model.hfWeights(), mg = try c.model.megatronWeights(c.store)
        let config = hf.config
        for l in 0..<config.text.numLayers {
            let a = try hf.textLayer(l), b = try mg.textLayer(l)
            for (name, x, y) in [("q", a.q.weight, b.q.weight), ("k", a.k.weight, b.k.weight), ("v", a.v.weight, b.v.weight),
                                 ("o", a.o.weight, b.o.weight), ("q_norm", a.qNorm, b.qNorm), ("k_norm", a.kNorm, b.kNorm),
                                 ("input_norm", a.inputNorm, b.inputNorm), ("post_attention_norm", a.postAttentionNorm, b.postAttentionNorm)] {
                #expect(x == y, "layer \(l) \(name) differs between the HF and Megatron readers")
            }
            switch (a.mlp, b.mlp) {
            case let (.dense(x), .dense(y)):
                #expect(x.gate == y.gate && x.up == y.up && x.down == y.down, "layer \(l) dense MLP differs")
            case let (.moe(x), .moe(y)):
                #expect(x.router == y.router, "layer \(l) router differs")
                for e in 0..<x.numExperts {
                    let p = try x.expert(e), q = try y.expert(e)
                    #expect(p.gate == q.gate && p.up == q.up && p.down == q.down, "layer \(l) expert \(e) differs")
                }
            default:
                Issue.record("layer \(l): the readers disagree on dense vs MoE")
            }
        }
        #expect(try hf.finalNorm() == mg.finalNorm())
        #expect(try hf.outputRows(0..<config.text.vocabSize) == mg.outputRows(0..<config.text.vocabSize))
        #expect(try hf.embeddingRows([0, 5, config.text.vocabSize - 1]) == mg.embeddingRows([0, 5, config.text.vocabSize - 1]))
        let v = config.vision!
        #expect(try hf.patchEmbed().weight == mg.patchEmbed().weight)
        #expect(try hf.positionTable() == mg.positionTable())
        for b in 0..<v.depth {
            let x = try hf.visionBlock(b), y = try mg.visionBlock(b)
            #expect(x.qkv.weight == y.qkv.weight && x.qkv.bias == y.qkv.bias, "vision block \(b) qkv differs")
            #expect(x.norm1.weight == y.norm1.weight && x.norm1.bias == y.norm1.bias && x.norm2.weight == y.norm2.weight
                    && x.norm2.bias == y.norm2.bias, "vision block \(b) norms differ")
            #expect(x.proj.weight == y.proj.weight && x.fc1.weight == y.fc1.weight && x.fc2.bias == y.fc2.bias,
                    "vision block \(b) linears differ")
        }
        for k in 0..<v.deepstackVisualIndexes.count {
            let x = try hf.deepstackMerger(k), y = try mg.deepstackMerger(k)
            #expect(x.norm.weight == y.norm.weight && x.fc1.weight == y.fc1.weight && x.fc2.weight == y.fc2.weight, "deepstack \(k) differs")
        }
        let x = try hf.merger(), y = try mg.merger()
        #expect(x.norm.bias == y.norm.bias && x.fc1.bias == y.fc1.bias && x.fc2.weight == y.fc2.weight, "merger differs")
    }

    /// Megatron-Bridge ≥ 0.4 runs its mergers with tanh-GELU: that changes only image logits, and only a
    /// little (the oracle allows 1e-2 for it).
    @Test func tanhMergersMoveOnlyImageLogits() throws {
        let weights = try TinyModel.moe.megatronWeights("bridge06_tp1_ep1/")
        let native = ForwardOptions(mergerGELU: .tanh)
        let image = try compareWithReference(weights, model: .moe, prompt: "image", options: native)
        let text = try compareWithReference(weights, model: .moe, prompt: "text", options: native)
        print("[forward] moe bridge06 tanh mergers: image \(image)")
        #expect(image.maxAbsDiff > logitTolerance && image.maxAbsDiff <= 1e-2, "\(image)")
        #expect(text.maxAbsDiff <= logitTolerance, "\(text)")
    }

    /// What `verify` does without an input file: both readers on the built-in prompts agree.
    @Test(arguments: TinyModel.allCases)
    func builtInInputsAgreeAcrossReaders(model: TinyModel) throws {
        let hf = try model.hfWeights(), mg = try model.megatronWeights("bridge06_tp1_ep1/")
        let prompts = try ForwardInputs.builtIn(config: hf.config)
        #expect(prompts.map(\.name) == ["text", "image"])
        for (name, inputs) in prompts {
            let a = try Qwen3VLForward(config: hf.config, weights: hf).run(inputs)
            let b = try Qwen3VLForward(config: mg.config, weights: mg).run(inputs)
            let c = try LogitComparison(b.logits, reference: a.logits, vocabSize: a.vocabSize)
            #expect(c.passes(maxAbs: 1e-5), "\(model) built-in \(name): \(c)")
        }
    }
}
