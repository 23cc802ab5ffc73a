import Forward
import Testing

/// The fp32 forward of the HF checkpoints against transformers' logits.
@Suite struct HFForwardTests {
    @Test(arguments: TinyModel.allCases, ["text", "image"])
    func logitsMatchTransformers(model: TinyModel, prompt: String) throws {
        let c = try compareWithReference(try model.hfWeights(), model: model, prompt: prompt)
        print("[forward] \(model) hf/ \(prompt): \(c)")
        #expect(c.maxAbsDiff <= logitTolerance, "\(c)")
        #expect(c.argmaxAgreement == c.positions, "\(c)")
    }

    /// hf_v4/: transformers 4.57 config (rope_theta + rope_scaling, num_experts) and, for MoE, the Hub
    /// expert layout gate_up_proj [E, H, 2I] / down_proj [E, I, H].
    @Test(arguments: TinyModel.allCases, ["text", "image"])
    func hubLayoutAndV4ConfigMatchTransformers(model: TinyModel, prompt: String) throws {
        let c = try compareWithReference(try model.hfWeights("hf_v4"), model: model, prompt: prompt)
        print("[forward] \(model) hf_v4/ \(prompt): \(c)")
        #expect(c.maxAbsDiff <= logitTolerance, "\(c)")
        #expect(c.argmaxAgreement == c.positions, "\(c)")
    }

    @Test func bothConfigFormsParseAlike() throws {
        let v5 = try TinyModel.moe.config("hf"), v4 = try TinyModel.moe.config("hf_v4")
        #expect(v5.text.ropeTheta == 5_000_000 && v4.text.ropeTheta == 5_000_000)
        #expect(v5.text.mropeSection == [6, 5, 5] && v4.text.mropeSection == [6, 5, 5])
        #expect(v5.text.moe?.numExperts == 8 && v4.text.moe?.numExperts == 8)
        #expect(v5.text.moe?.normTopKProb == true && v4.text.moe?.normTopKProb == true)
        #expect(v5.vision?.deepstackVisualIndexes == [0, 2])
        let dense = try TinyModel.dense.config()
        #expect(dense.tieWordEmbeddings && dense.text.moe == nil && !v5.tieWordEmbeddings)
    }
}
