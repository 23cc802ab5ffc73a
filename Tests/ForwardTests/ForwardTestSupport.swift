import Forward
import SafeTensors
import TensorCore
import TestSupport
import Testing

/// The two tiny oracle models.
enum TinyModel: String, CaseIterable, CustomStringConvertible {
    case dense = "qwen3_vl_dense_tiny"
    case moe = "qwen3_vl_moe_tiny"

    var description: String { rawValue }

    func path(_ relative: String) throws -> String { try Fixtures.path("\(rawValue)/\(relative)") }

    /// The model's config.json (the transformers-5 one in `hf/`).
    func config(_ folder: String = "hf") throws -> ModelConfig {
        try ModelConfig(configPath: try path("\(folder)/config.json"))
    }

    func hfWeights(_ folder: String = "hf") throws -> HFWeights {
        HFWeights(checkpoint: try SafeTensorsCheckpoint(path: try path(folder)), config: try config(folder))
    }

    /// Megatron global tensors: "" = Megatron-Bridge 0.3.1 (HF-named vision), "bridge06_tp1_ep1/" = 0.6.2.
    func megatronStore(_ sub: String = "") throws -> SafeTensorsCheckpoint {
        try SafeTensorsCheckpoint(path: try path("\(sub)megatron_global_tensors.safetensors"))
    }

    func megatronWeights(_ sub: String = "") throws -> MegatronWeights {
        try MegatronWeights(store: try megatronStore(sub), config: try config())
    }

    func reference() throws -> Reference { try Reference(path: try path("reference.safetensors")) }
}

/// The oracle's reference.safetensors: inputs, logits and intermediates made by transformers.
final class Reference {
    let file: SafeTensorsCheckpoint
    let path: String

    init(path: String) throws {
        self.path = path
        file = try SafeTensorsCheckpoint(path: path)
    }

    func has(_ key: String) -> Bool { file.contains(key) }

    func floats(_ key: String) throws -> [Float] {
        let t = try file.tensor(key)
        if t.dtype == .i64 {
            let b = t.rawBytes
            return (0..<t.elementCount).map { Float(b.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
        if t.dtype == .u8 { return t.rawBytes.map { Float($0) } }
        return try t.readFloats()
    }

    func shape(_ key: String) throws -> [Int] { try file.tensor(key).shape }

    func inputs(_ prompt: String) throws -> ForwardInputs { try ForwardInputs(path: path, prefix: prompt + ".") }
}

/// Max |a - b| (NaN-aware: NaN counts as infinitely far).
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count) values")
    var m: Float = 0
    for i in a.indices {
        let d = abs(a[i] - b[i])
        if d.isNaN { return .infinity }
        m = max(m, d)
    }
    return m
}

/// The logit tolerance the fp32 forward must meet against transformers.
let logitTolerance = 5e-5

/// Runs a forward pass and compares its logits with `<prompt>.logits` of the reference.
func compareWithReference(_ weights: ModelWeights, model: TinyModel, prompt: String,
                          options: ForwardOptions = ForwardOptions(), trace: ForwardTrace? = nil) throws -> LogitComparison {
    let ref = try model.reference()
    let forward = Qwen3VLForward(config: weights.config, weights: weights, options: options)
    let out = try forward.run(try ref.inputs(prompt), trace: trace)
    let expected = try ref.floats("\(prompt).logits")
    #expect(try ref.shape("\(prompt).logits") == out.shape)
    return try LogitComparison(out.logits, reference: expected, vocabSize: out.vocabSize)
}
