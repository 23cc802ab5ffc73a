import Forward
import TensorCore
import Testing

/// A Megatron store with some tensors replaced (or hidden), to prove that a wrong checkpoint fails clearly.
final class AlteredStore: TensorStore {
    let base: TensorStore
    var replaced: [String: () throws -> TensorSource] = [:]
    var hidden: Set<String> = []
    var added: [String] = []

    init(_ base: TensorStore) { self.base = base }

    var tensorNames: [String] { base.tensorNames.filter { !hidden.contains($0) } + added }

    func tensorSource(_ key: String) throws -> TensorSource {
        if let r = replaced[key] { return try r() }
        return try base.tensorSource(key)
    }

    /// Swaps items `a` and `b` of axis 1 within item `layer` of axis 0 (experts of one layer in a
    /// stacked [L, E, ...] tensor), as a lazy composed tensor.
    func swapExperts(_ key: String, layer: Int, _ a: Int, _ b: Int) throws {
        let src = try base.tensorSource(key)
        let shape = src.shape, rank = shape.count
        var parts = [ComposedTensor.Part]()
        for l in 0..<shape[0] {
            for e in 0..<shape[1] {
                let from = l == layer && e == a ? b : (l == layer && e == b ? a : e)
                let zeros = [Int](repeating: 0, count: rank - 2)
                parts.append(ComposedTensor.Part(box: Box(offsets: [l, e] + zeros, sizes: [1, 1] + Array(shape[2...])), source: src,
                                                 sourceOrigin: [l, from] + zeros, axisMap: Array(0..<rank)))
            }
        }
        let t = ComposedTensor(dtype: src.dtype, shape: shape, parts: parts)
        try t.validate(name: key)
        replaced[key] = { t }
    }

    /// Serves tensor `old` only under the name `new` (another module spelling of the same parameter).
    func rename(_ old: String, to new: String) {
        let base = self.base
        hidden.insert(old)
        added.append(new)
        replaced[new] = { try base.tensorSource(old) }
    }

    /// Serves tensor `a` under key `b` and vice versa.
    func exchange(_ a: String, _ b: String) {
        let base = self.base
        replaced[a] = { try base.tensorSource(b) }
        replaced[b] = { try base.tensorSource(a) }
    }
}

@Suite struct CorruptionTests {
    static let layers = "language_model.decoder.layers."

    func run(_ store: TensorStore, _ model: TinyModel, prompt: String) throws -> LogitComparison {
        let weights = try MegatronWeights(store: store, config: try model.config())
        return try compareWithReference(weights, model: model, prompt: prompt)
    }

    @Test func swappedExpertsFailTheComparison() throws {
        let store = AlteredStore(try TinyModel.moe.megatronStore())
        try store.swapExperts(Self.layers + "mlp.experts.experts.linear_fc1.weight", layer: 0, 0, 1)
        try store.swapExperts(Self.layers + "mlp.experts.experts.linear_fc2.weight", layer: 0, 0, 1)
        let c = try run(store, .moe, prompt: "text")
        print("[forward] moe, experts 0 and 1 of layer 0 swapped: \(c)")
        #expect(!c.passes(maxAbs: logitTolerance))
        #expect(c.maxAbsDiff > 1e-3)
    }

    @Test(arguments: TinyModel.allCases)
    func exchangedQKNormsFailTheComparison(model: TinyModel) throws {
        let store = AlteredStore(try model.megatronStore("bridge06_tp1_ep1/"))
        store.exchange(Self.layers + "self_attention.q_layernorm.weight", Self.layers + "self_attention.k_layernorm.weight")
        let c = try run(store, model, prompt: "text")
        print("[forward] \(model), q_layernorm <-> k_layernorm: \(c)")
        #expect(!c.passes(maxAbs: logitTolerance))
        #expect(c.maxAbsDiff > 1e-3)
    }

    @Test func aMissingWeightIsAnErrorNamingIt() throws {
        let store = AlteredStore(try TinyModel.dense.megatronStore())
        let key = Self.layers + "self_attention.q_layernorm.weight"
        store.hidden = [key]
        let weights = try MegatronWeights(store: store, config: try TinyModel.dense.config())
        let inputs = try TinyModel.dense.reference().inputs("text")
        let error = #expect(throws: ForwardError.self) { try Qwen3VLForward(config: weights.config, weights: weights).run(inputs) }
        #expect(error?.code == .missingWeight)
        #expect(error?.key == key, "\(String(describing: error))")
    }

    /// Megatron's local (non-TE) spec names the input norm `input_layernorm.weight` and the dense pre-MLP norm
    /// `pre_mlp_layernorm.weight`. The mapping tables (so `export`) do not accept those spellings, and neither
    /// does the forward pass: a `verify` must not pass on a checkpoint that conversion refuses.
    @Test(arguments: [("self_attention.linear_qkv.layer_norm_weight", "input_layernorm.weight"),
                      ("mlp.linear_fc1.layer_norm_weight", "pre_mlp_layernorm.weight")])
    func spellingsTheTablesRefuseAreRefused(canonical: String, localSpec: String) throws {
        let store = AlteredStore(try TinyModel.dense.megatronStore())
        store.rename(Self.layers + canonical, to: Self.layers + localSpec)
        let weights = try MegatronWeights(store: store, config: try TinyModel.dense.config())
        let error = #expect(throws: ForwardError.self) { try weights.textLayer(0) }
        #expect(error?.code == .missingWeight)
        #expect(error?.key?.hasSuffix(canonical) == true, "\(String(describing: error))")
    }

    @Test func aMisshapedWeightIsAnErrorNamingIt() throws {
        let base = try TinyModel.moe.megatronStore()
        let store = AlteredStore(base)
        let key = "language_model.decoder.final_layernorm.weight"
        let src = try base.tensorSource(key)
        let short = ComposedTensor(dtype: src.dtype, shape: [src.shape[0] - 1],
                                   parts: [ComposedTensor.Part(box: Box(shape: [src.shape[0] - 1]), source: src, sourceOrigin: [0], axisMap: [0])])
        store.replaced[key] = { short }
        let weights = try MegatronWeights(store: store, config: try TinyModel.moe.config())
        let error = #expect(throws: ForwardError.self) { try weights.finalNorm() }
        #expect(error?.code == .badWeight && error?.key == key)
    }
}
