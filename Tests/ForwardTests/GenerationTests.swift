import Forward
import Testing

/// Greedy generation with the KV cache against the uncached forward pass: every step's logits equal the last
/// row of a full forward pass over the prompt plus the tokens generated so far, and the prompt's pass (with an
/// image) gives the last row of transformers' reference logits. (The generated ids themselves are checked
/// against transformers' generate by Tests/Interop/test_generate.py.)
struct GenerationTests {
    @Test(arguments: TinyModel.allCases)
    func cachedStepsEqualFullRecompute(model: TinyModel) throws {
        let config = try model.config()
        let forward = Qwen3VLForward(config: config, weights: try model.hfWeights())
        let prompt = try model.reference().inputs("text")
        let generation = try forward.generate(prompt, maxNewTokens: 6, topK: 3)
        #expect(generation.steps.count == 6 && !generation.stopped)
        let v = config.text.vocabSize
        for k in 0..<generation.steps.count {
            let ids = prompt.inputIds + generation.tokens[0..<k]
            let full = try forward.run(ForwardInputs(inputIds: ids)).logits
            let last = Array(full[((ids.count - 1) * v)...])
            let argmax = last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!
            #expect(generation.steps[k].token == argmax, "step \(k)")
            for t in generation.steps[k].top { #expect(abs(t.logit - last[t.id]) <= 1e-5, "step \(k) token \(t.id)") }
        }
    }

    @Test(arguments: TinyModel.allCases)
    func imagePromptFirstStepEqualsTransformers(model: TinyModel) throws {
        let ref = try model.reference()
        let forward = Qwen3VLForward(config: try model.config(), weights: try model.hfWeights())
        let input = try ref.inputs("image")
        let generation = try forward.generate(input, maxNewTokens: 2, topK: 5)
        let logits = try ref.floats("image.logits"), v = try ref.shape("image.logits").last!
        let last = Array(logits[((input.inputIds.count - 1) * v)...])
        let argmax = last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!
        #expect(generation.steps[0].token == argmax)
        for t in generation.steps[0].top { #expect(abs(t.logit - last[t.id]) <= 5e-5) }
    }
}
