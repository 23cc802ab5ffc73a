import Foundation

/// Settings of the reference forward pass.
public struct ForwardOptions: Sendable {
    /// GELU between fc1 and fc2 of the vision patch mergers. transformers uses the exact (erf) form;
    /// Megatron-Bridge's Megatron-native vision tower (≥ 0.4) uses the tanh form there. Default `.exact`,
    /// so logits are comparable with transformers whatever the weights' format; pick `.tanh` to reproduce
    /// what a Megatron-native runtime computes.
    public var mergerGELU: GELUKind
    /// OpenBLAS threads; nil = the number of active processors.
    public var threads: Int?
    /// Bytes of output-projection rows each thread converts to fp32 and multiplies at a time when computing
    /// the logits (small enough that the threads' chunks stay in the last-level cache).
    public var outputChunkBytes: Int

    public init(mergerGELU: GELUKind = .exact, threads: Int? = nil, outputChunkBytes: Int = 4 << 20) {
        self.mergerGELU = mergerGELU
        self.threads = threads
        self.outputChunkBytes = outputChunkBytes
    }
}

/// The fp32 reference forward pass of Qwen3-VL / Qwen3-VL-MoE on OpenBLAS.
///
/// Weights come through `ModelWeights` (HF or Megatron reader) and are read layer by layer, so memory is
/// bounded by one layer (one expert at a time for MoE) plus activations.
public final class Qwen3VLForward {
    public let config: ModelConfig
    public let weights: ModelWeights
    public var options: ForwardOptions

    public init(config: ModelConfig, weights: ModelWeights, options: ForwardOptions = ForwardOptions()) {
        self.config = config
        self.weights = weights
        self.options = options
    }

    /// The logits [1, S, V] of `inputs`, flattened row-major.
    public func logits(_ inputs: ForwardInputs) throws -> [Float] {
        try run(inputs).logits
    }

    /// OpenBLAS's thread count is process-wide and its thread pool is shared: one forward pass at a time
    /// per process (each one already uses every core).
    static let lock = NSLock()

    /// Runs the model; when `trace` is given, records intermediates into it (see `ForwardTrace`).
    public func run(_ inputs: ForwardInputs, trace: ForwardTrace? = nil) throws -> ForwardOutput {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        return try runLocked(inputs, trace: trace, cache: nil).output
    }

    /// The forward pass (the caller holds `lock`). With a cache, only the last position's logits are
    /// computed (the next token's), and `nextPosition` is the rotary position the first generated token
    /// takes: max(prompt positions) + 1, as transformers' `rope_deltas` give it.
    func runLocked(_ inputs: ForwardInputs, trace: ForwardTrace?, cache: KVCache?) throws -> (output: ForwardOutput, nextPosition: Int) {
        let threads = options.threads ?? ProcessInfo.processInfo.activeProcessorCount
        BLAS.setThreads(threads)
        let t = config.text, h = t.hiddenSize, vocab = t.vocabSize
        let w = weights.config.text
        guard (w.hiddenSize, w.numLayers, w.vocabSize, w.numHeads, w.numKVHeads, w.headDim)
                == (h, t.numLayers, vocab, t.numHeads, t.numKVHeads, t.headDim),
              (weights.config.text.moe == nil) == (t.moe == nil), (weights.config.vision == nil) == (config.vision == nil) else {
            throw ForwardError(.config, "the weights were opened with a different config than the forward pass was given")
        }
        let ids = inputs.inputIds, s = ids.count
        guard s > 0 else { throw ForwardError(.input, "the prompt is empty") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocab }) {
            throw ForwardError(.input, "token id \(bad) is outside the vocabulary 0..<\(vocab)")
        }
        let positions = try MRopePositions(inputIds: ids, imageGridTHW: inputs.imageGridTHW, videoGridTHW: inputs.videoGridTHW,
                                           config: config)
        trace.record("position_ids", [3, 1, s], positions.positions.flatMap { $0.map(Float.init) })

        var hidden = try weights.embeddingRows(ids)
        let visual = try visionEmbeddings(inputs, positions: positions, trace: trace)
        let imageRows = positions.visionTokenRows
        for (n, r) in imageRows.enumerated() {
            for c in 0..<h { hidden[r * h + c] = visual.embeddings[n * h + c] }
        }
        let deepstack = visual.deepstack

        let rotary = TextRotary(positions: positions.positions, config: t)
        trace.record("text.rope_cos", [1, s, t.headDim], rotary.cos)
        trace.record("text.rope_sin", [1, s, t.headDim], rotary.sin)
        let decoder = TextDecoder(config: t, weights: weights)
        let final = try decoder.forward(hidden, rows: s, rotary: rotary, imageRows: imageRows, deepstack: deepstack, trace: trace,
                                        cache: cache)
        let next = (positions.positions.joined().max() ?? -1) + 1
        if cache != nil {
            let last = Array(final[((s - 1) * h)...])
            return (ForwardOutput(logits: try project(last, rows: 1), sequenceLength: 1, vocabSize: vocab), next)
        }
        let lg = try project(final, rows: s)
        return (ForwardOutput(logits: lg, sequenceLength: s, vocabSize: vocab), next)
    }

    /// `hidden · Wᵀ` over the true vocabulary, the output projection streamed in row chunks like every other
    /// linear layer (`StreamedLinear`), with the forward pass's own chunk size.
    func project(_ hidden: [Float], rows s: Int) throws -> [Float] {
        let h = config.text.hiddenSize, vocab = config.text.vocabSize
        let weights = self.weights
        let output = MatrixRows(rows: vocab, cols: h) { range, dest in try weights.outputRows(range, into: dest) }
        return try StreamedLinear(weight: output, bias: nil).apply(hidden, rows: s, chunkBytes: options.outputChunkBytes)
    }
}
