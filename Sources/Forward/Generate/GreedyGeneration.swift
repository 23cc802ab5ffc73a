import Foundation

/// One generated token and the highest logits of the step that chose it.
public struct GenerationStep: Sendable {
    /// The chosen token (the argmax).
    public var token: Int
    /// The k highest logits, highest first (ties: lower id first, as torch.argmax and torch.topk pick).
    public var top: [(id: Int, logit: Float)]
}

/// The result of greedy generation.
public struct Generation: Sendable {
    public var promptTokens: Int
    public var steps: [GenerationStep]
    /// Whether it stopped at a stop token (the token is the last step) rather than at the length limit.
    public var stopped: Bool

    public var tokens: [Int] { steps.map(\.token) }
}

extension Qwen3VLForward {
    /// Greedy decoding (transformers' `generate(do_sample=False)`) with a KV cache: the prompt runs once,
    /// images included, filling the cache; each new token then runs the decoder on one row at rotary
    /// position max(prompt positions) + 1 + step, with no vision input (a generated image-pad id is an
    /// ordinary token, as in transformers). Stops after `maxNewTokens` or at a token of `stopTokens`
    /// (which is kept, as transformers keeps the EOS).
    public func generate(_ inputs: ForwardInputs, maxNewTokens: Int, stopTokens: Set<Int> = [], topK: Int = 5) throws -> Generation {
        guard maxNewTokens >= 1 else { throw ForwardError(.input, "max new tokens must be at least 1, not \(maxNewTokens)") }
        Self.lock.lock()
        defer { Self.lock.unlock() }
        let t = config.text
        let cache = KVCache(layers: t.numLayers, kvHeads: t.numKVHeads, headDim: t.headDim)
        var (output, position) = try runLocked(inputs, trace: nil, cache: cache)
        var logits = output.logits
        var steps = [GenerationStep]()
        while true {
            if let bad = logits.firstIndex(where: { !$0.isFinite }) {
                throw ForwardError(.input, "the logits of generation step \(steps.count) are not finite (token \(bad) is \(logits[bad]))",
                                   hint: "the weights hold NaN or infinite values")
            }
            let top = Self.top(logits, k: max(1, min(topK, logits.count)))
            let token = top[0].id
            steps.append(GenerationStep(token: token, top: top))
            if stopTokens.contains(token) { return Generation(promptTokens: inputs.inputIds.count, steps: steps, stopped: true) }
            if steps.count == maxNewTokens { return Generation(promptTokens: inputs.inputIds.count, steps: steps, stopped: false) }
            logits = try step(token: token, position: position, cache: cache)
            position += 1
            output = ForwardOutput(logits: logits, sequenceLength: 1, vocabSize: t.vocabSize)
        }
    }

    /// The next token's logits after appending `token` at rotary position `position` (all three MRoPE axes).
    private func step(token: Int, position: Int, cache: KVCache) throws -> [Float] {
        let t = config.text
        let hidden = try weights.embeddingRows([token])
        let rotary = TextRotary(positions: [[position], [position], [position]], config: t)
        let final = try TextDecoder(config: t, weights: weights)
            .forward(hidden, rows: 1, rotary: rotary, imageRows: [], deepstack: [], trace: nil, cache: cache)
        return try project(final, rows: 1)
    }

    /// The k largest entries (all finite), largest first, lower index first among equals.
    static func top(_ logits: [Float], k: Int) -> [(id: Int, logit: Float)] {
        var best = [(id: Int, logit: Float)]()
        for (i, x) in logits.enumerated() where best.count < k || x > best[best.count - 1].logit {
            let at = best.firstIndex(where: { x > $0.logit }) ?? best.count
            best.insert((i, x), at: at)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
