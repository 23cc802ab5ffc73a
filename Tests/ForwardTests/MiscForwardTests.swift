import Forward
import SafeTensors
import TensorCore
import TestSupport
import Testing

@Suite struct BF16ForwardTests {
    /// hf_bf16 holds the fp32 weights rounded to bf16. Our fp32 forward of those weights cannot match the
    /// fixture's bf16.*.logits tightly (transformers computed those in bf16 arithmetic), so it is checked
    /// against the fp32 reference with a bound for bf16 weight rounding, and against the bf16 logits loosely.
    @Test(arguments: TinyModel.allCases, ["text", "image"])
    func upcastBF16WeightsStayCloseToFP32(model: TinyModel, prompt: String) throws {
        let weights = try model.hfWeights("hf_bf16")
        let ref = try model.reference()
        let out = try Qwen3VLForward(config: weights.config, weights: weights).run(try ref.inputs(prompt))
        let fp32 = try LogitComparison(out.logits, reference: try ref.floats("\(prompt).logits"), vocabSize: out.vocabSize)
        let bf16 = try LogitComparison(out.logits, reference: try ref.floats("bf16.\(prompt).logits"), vocabSize: out.vocabSize)
        print("[forward] \(model) hf_bf16 \(prompt): vs fp32 reference \(fp32); vs bf16 reference \(bf16)")
        #expect(fp32.maxAbsDiff <= 0.05 && fp32.maxAbsDiff > 0, "\(fp32)")
        #expect(fp32.argmaxAgreementFraction >= 0.9, "\(fp32)")
        #expect(bf16.maxAbsDiff <= 0.1, "\(bf16)")
    }
}

@Suite struct ForwardIOTests {
    @Test func logitsRoundTripThroughSafetensors() throws {
        let dir = Fixtures.scratch("forward-out")
        defer { FileSystem.remove(dir) }
        let out = ForwardOutput(logits: (0..<12).map { Float($0) / 4 }, sequenceLength: 3, vocabSize: 4)
        let path = FileSystem.join(dir, "logits.safetensors")
        try out.save(to: path)
        let t = try SafeTensorsCheckpoint(path: path).tensor("logits")
        #expect(t.dtype == .f32 && t.shape == [1, 3, 4])
        #expect(try t.readFloats() == out.logits)
    }

    @Test func inputsLoadWithAPrefix() throws {
        let ref = try TinyModel.moe.reference()
        let text = try ref.inputs("text"), image = try ref.inputs("image")
        #expect(text.inputIds.count == 16 && text.pixelValues == nil && text.imageGridTHW.isEmpty)
        #expect(image.imageGridTHW == [[1, 4, 6]] && image.pixelValues?.count == 24 * 1536)
        #expect(image.inputIds.filter { $0 == 1012 }.count == 6)
    }

    @Test func builtInInputsRoundTripThroughSafetensors() throws {
        let dir = Fixtures.scratch("forward-inputs")
        defer { FileSystem.remove(dir) }
        let path = FileSystem.join(dir, "inputs.safetensors")
        let (_, image) = try ForwardInputs.builtIn(config: try TinyModel.moe.config())[1]
        try image.save(to: path, prefix: "image.")
        let back = try ForwardInputs(path: path, prefix: "image.")
        #expect(back.inputIds == image.inputIds && back.imageGridTHW == image.imageGridTHW && back.pixelValues == image.pixelValues)
        #expect(image.imageGridTHW == [[1, 4, 6]] && image.inputIds.filter { $0 == 1012 }.count == 6)
    }

    @Test func badInputsAreErrors() throws {
        let weights = try TinyModel.dense.hfWeights()
        let forward = Qwen3VLForward(config: weights.config, weights: weights)
        let tooBig = #expect(throws: ForwardError.self) { try forward.run(ForwardInputs(inputIds: [1, 2, 5000])) }
        #expect(tooBig?.code == .input)
        let noPixels = #expect(throws: ForwardError.self) { try forward.run(ForwardInputs(inputIds: [1, 1009, 1012, 1010])) }
        #expect(noPixels?.code == .input)
    }

    /// With H == 2I the two fused-expert layouts have the same shapes: the HF reader refuses to guess.
    @Test func ambiguousFusedExpertsAreRefused() throws {
        let dir = Fixtures.scratch("forward-ambiguous")
        defer { FileSystem.remove(dir) }
        let config = try ModelConfig(json: try JSONParser.parse("""
        {"text_config": {"vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 1,
         "num_key_value_heads": 1, "head_dim": 4, "rope_parameters": {"rope_theta": 10000.0, "mrope_section": [1, 1, 0]},
         "num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 2}}
        """))
        let p = "model.language_model.layers.0.mlp."
        try FloatTensorFile.write([(p + "gate.weight", [2, 4], [Float](repeating: 0, count: 8)),
                                   (p + "experts.gate_up_proj", [2, 4, 4], [Float](repeating: 0, count: 32)),
                                   (p + "experts.down_proj", [2, 2, 4], [Float](repeating: 0, count: 16))],
                                  to: FileSystem.join(dir, "model.safetensors"))
        let weights = HFWeights(checkpoint: try SafeTensorsCheckpoint(path: dir), config: config)
        let error = #expect(throws: ForwardError.self) { try weights.textLayer(0) }
        #expect(error?.code == .badWeight && error?.key == p + "experts.gate_up_proj")
    }
}
