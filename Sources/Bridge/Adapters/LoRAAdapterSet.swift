import TensorCore
import SafeTensors

/// The LoRA adapter weights of a Megatron-Bridge PEFT checkpoint, found by their storage keys.
///
/// Megatron-Bridge's `LoRALinear` keeps the base module's keys and adds its `ParallelLinearAdapter` under
/// `<module>.adapter.`: `linear_in.weight` (A, `[r, in]`) and `linear_out.weight` (B, `[out, r]`), stacked
/// over layers like the base weight. torch_dist stores them as global tensors: the TP shards (A split along
/// `r` or `in`, B along `out`, fc1's B as gate and up halves like the base fc1) are reassembled by the
/// reader, so a module's A and B are its whole matrices whatever the layout.
public final class LoRAAdapterSet {
    /// The adapter of one base weight.
    public struct Module {
        /// The storage key of the base weight, e.g. `language_model.decoder.layers.self_attention.linear_qkv.weight`.
        public var baseKey: String
        public var inKey: String
        public var outKey: String
    }

    static let marker = ".adapter."
    static let inSuffix = ".adapter.linear_in.weight"
    static let outSuffix = ".adapter.linear_out.weight"

    public let store: TensorStore
    public let path: String
    /// Adapters by the storage key of their base weight.
    public let modules: [String: Module]
    /// Every stored adapter key.
    public let keys: [String]
    private(set) var consumed = Set<String>()
    /// The LoRA rank, once an adapter has been read.
    public private(set) var rank: Int?

    /// Whether a stored key belongs to an adapter.
    public static func isAdapterKey(_ key: String) -> Bool { key.contains(marker) }

    public init(store: TensorStore, path: String) throws {
        self.store = store
        self.path = path
        keys = store.tensorNames.filter(Self.isAdapterKey).sorted(by: naturalLess)
        var ins = [String: String](), outs = [String: String]()
        for k in keys {
            if k.hasSuffix(Self.inSuffix) {
                ins[String(k.dropLast(Self.inSuffix.count)) + ".weight"] = k
            } else if k.hasSuffix(Self.outSuffix) {
                outs[String(k.dropLast(Self.outSuffix.count)) + ".weight"] = k
            } else {
                throw BridgeError(.unusedKeys, "adapter tensor of an unsupported kind", file: path, key: k,
                                  hint: "only LoRA (adapter.linear_in / adapter.linear_out) is read; CanonicalLoRA and DoRA adapters are not supported yet")
            }
        }
        for base in Set(ins.keys).symmetricDifference(outs.keys).sorted() {
            throw BridgeError(.missingKeys, "LoRA adapter of '\(base)' has only one of linear_in / linear_out", file: path,
                              key: ins[base] ?? outs[base], hint: "the checkpoint is incomplete")
        }
        var m = [String: Module]()
        for (base, i) in ins { m[base] = Module(baseKey: base, inKey: i, outKey: outs[base]!) }
        modules = m
    }

    public var isEmpty: Bool { keys.isEmpty }

    /// A (`[r, in]`) and B (`[out, r]`) of the adapter on parameter `p` (shape `[out, in]`), nil without one.
    public func tensors(for p: MegatronParameter) throws -> (a: TensorSource, b: TensorSource)? {
        guard let m = modules[p.storage.key] else { return nil }
        guard p.shape.count == 2 else {
            throw BridgeError(.shape, "a LoRA adapter on a parameter of rank \(p.shape.count)", file: path, key: m.inKey,
                              hint: "LoRA adapts 2-D linear weights only")
        }
        let (aStored, bStored) = try BridgeError.during("cannot read the LoRA adapter of Megatron parameter '\(p.name)'", file: path) {
            (try store.tensorSource(m.inKey), try store.tensorSource(m.outKey))
        }
        let prefix = p.storage.prefixCounts
        guard aStored.shape.count == prefix.count + 2, Array(aStored.shape.prefix(prefix.count)) == prefix else {
            throw BridgeError(.shape, "stored shape \(Shape.describe(aStored.shape)) of LoRA A does not stack like its base weight \(Shape.describe(prefix + p.shape))",
                              file: path, key: m.inKey, hint: "the checkpoint is not a Megatron-Bridge LoRA checkpoint of this model")
        }
        let r = aStored.shape[prefix.count]
        guard r > 0, aStored.shape.last == p.shape[1] else {
            throw BridgeError(.shape, "LoRA A \(Shape.describe(aStored.shape)) does not fit base weight \(Shape.describe(p.shape)) (needs [r, \(p.shape[1])])",
                              file: path, key: m.inKey, hint: "check that the HF config belongs to this checkpoint")
        }
        guard bStored.shape == prefix + [p.shape[0], r] else {
            throw BridgeError(.shape, "LoRA B \(Shape.describe(bStored.shape)) does not fit base weight \(Shape.describe(p.shape)) and rank \(r) (needs \(Shape.describe(prefix + [p.shape[0], r])))",
                              file: path, key: m.outKey, hint: "check that the HF config belongs to this checkpoint")
        }
        if let known = rank, known != r {
            throw BridgeError(.shape, "LoRA rank \(r) differs from rank \(known) of other adapters", file: path, key: m.inKey,
                              hint: "one checkpoint holds one LoRA configuration")
        }
        rank = r
        consumed.insert(m.inKey)
        consumed.insert(m.outKey)
        let a = ComposedTensor(dtype: aStored.dtype, shape: [r, p.shape[1]], parts: [p.storage.part(readingFrom: aStored, shape: [r, p.shape[1]])])
        let b = ComposedTensor(dtype: bStored.dtype, shape: [p.shape[0], r], parts: [p.storage.part(readingFrom: bStored, shape: [p.shape[0], r])])
        return (a, b)
    }

    /// The adapter tensors (A and B) on parameter `p`; empty without an adapter.
    public func keys(for p: MegatronParameter) -> [String] {
        modules[p.storage.key].map { [$0.inKey, $0.outKey] } ?? []
    }

    /// Adapter keys no parameter read.
    public var unconsumed: [String] { keys.filter { !consumed.contains($0) } }

    /// Refuses adapters that no parameter of the mapping adapts (fail closed: nothing is dropped).
    public func checkAllUsed() throws {
        let left = unconsumed
        guard left.isEmpty else {
            throw BridgeError(.unusedKeys, "\(left.count) LoRA adapter tensor(s) adapt no parameter of the mapping: \(ImportPlan.list(left))",
                              file: path, key: left[0], hint: "adapters on experts, routers or the vision tower are not supported yet")
        }
    }
}
