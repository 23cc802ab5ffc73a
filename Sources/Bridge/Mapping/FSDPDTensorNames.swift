/// Megatron FSDP's `fsdp_dtensor` tensor names, and how they correspond to torch_dist storage keys.
///
/// An `fsdp_dtensor` checkpoint is a plain torch DCP save of `{'model': module.state_dict(), …}` after
/// megatron-core's `fsdp_dtensor_checkpoint` preprocessing, so each tensor is one module parameter under its
/// module path, never stacked:
///
///     model.module.language_model.decoder.layers.3.self_attention.linear_qkv.weight
///     model.module.language_model.decoder.layers.3.mlp.linear_fc1.weight_w          (SwiGLU gate half)
///     model.module.language_model.decoder.layers.3.mlp.linear_fc1.weight_v          (up half)
///     model.module.language_model.decoder.layers.3.mlp.experts.linear_fc1.weight5_w  (TE grouped experts)
///     model.module.language_model.decoder.layers.3.mlp.experts.local_experts.5.linear_fc1.weight_w  (sequential)
///
/// `model.` is the DCP flattening of the `model` entry; the `module.` levels are the wrappers' (one for the
/// Megatron-FSDP adapter over `Float16Module`, which hides its own level). torch_dist stacks the same
/// parameters: layers on a leading axis (`decoder.layers.X`), then experts (`mlp.experts.experts.X`), and
/// keeps fc1 whole (`[w; v]` along dim 0). `handle_swiglu_in_state_dict` splits every name its patterns
/// match, whatever the module (Megatron-Bridge decides SwiGLU from the language config, so a non-gated vision
/// fc1 is split in halves too); the split is undone by concatenation, which restores either exactly.
public enum FSDPDTensorNames {
    /// The DCP prefix of the model's tensors.
    public static let modelPrefix = "model."
    /// One wrapper level of a module path.
    public static let wrapperLevel = "module."
    /// The prefix this tool writes: `model.` + the Megatron-FSDP adapter's one `module.` level, the keys
    /// megatron-core's adapter produces over `Float16Module` (bf16/fp16) and over the bare model alike.
    public static let writtenPrefix = modelPrefix + wrapperLevel

    /// Which half of a split SwiGLU fc1 a tensor holds: `_w` (rows [0, n/2), the gate) or `_v` (the rest).
    public enum Half: Int, CaseIterable, Sendable {
        case w = 0, v = 1
        var suffix: String { self == .w ? "_w" : "_v" }
    }

    /// How expert parameters are named: TE's grouped GEMM (`mlp.experts.linear_fc1.weight5`, what a GPU
    /// run of Megatron-Bridge's Qwen3-MoE providers uses) or SequentialMLP (`mlp.experts.local_experts.5.…`).
    public enum ExpertNaming: String, CaseIterable, Sendable {
        case grouped, sequential
    }

    /// Where one `fsdp_dtensor` tensor goes in the torch_dist view.
    public struct Piece: Hashable, Sendable {
        /// The torch_dist storage key it is part of.
        public var storageKey: String
        /// Its index on the stacked layer axis (axis 0), when the key stacks layers.
        public var layer: Int?
        /// Its index on the stacked expert axis (after the layer axis), when the key stacks experts.
        public var expert: Int?
        /// The SwiGLU half it holds, when fc1 is split.
        public var half: Half?
    }

    /// The module path of a DCP key of the model (`model.` and every `module.` level removed), or nil
    /// when the key is not the model's.
    public static func modulePath(_ dcpKey: String) -> Substring? {
        guard dcpKey.hasPrefix(modelPrefix) else { return nil }
        var rest = dcpKey.dropFirst(modelPrefix.count)
        while rest.hasPrefix(wrapperLevel) { rest = rest.dropFirst(wrapperLevel.count) }
        return rest
    }

    /// The storage key, layer, expert and half of a model parameter's module path.
    public static func piece(modulePath: Substring) -> Piece {
        var c = modulePath.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var half: Half?
        if let last = c.last, let h = Half.allCases.first(where: { last.hasSuffix($0.suffix) }) {
            var base = c
            base[base.count - 1] = String(last.dropLast(2))
            if isSwiGLUFC1(base) { c = base; half = h }
        }
        var expert: Int?
        if let i = mlpExpertsIndex(c) {
            if i + 2 < c.count, c[i + 1] == "local_experts", let e = index(c[i + 2]) {
                expert = e
                c.replaceSubrange(i + 1...i + 2, with: ["experts"])
            } else if i + 2 == c.count - 1, c[i + 1].hasPrefix("linear_fc"), let (name, e) = numbered(c[i + 2]) {
                expert = e
                c.replaceSubrange(i + 1...i + 2, with: ["experts", c[i + 1], name])
            }
        }
        var layer: Int?
        if let i = stackedListIndex(c), i + 1 < c.count, let l = index(c[i + 1]) {
            layer = l
            c.remove(at: i + 1)
        }
        return Piece(storageKey: c.joined(separator: "."), layer: layer, expert: expert, half: half)
    }

    /// The axes a torch_dist storage key stacks: layers (a stacked list with no index after it) on axis 0,
    /// experts (`mlp.experts.experts`) next.
    public static func stackedAxes(storageKey: String) -> (layers: Bool, experts: Bool) {
        let c = storageKey.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let layers = stackedListIndex(c).map { $0 + 1 < c.count && index(c[$0 + 1]) == nil } ?? false
        let experts = mlpExpertsIndex(c).map { $0 + 1 < c.count && c[$0 + 1] == "experts" } ?? false
        return (layers, experts)
    }

    /// The module path of one piece of a storage key (the inverse of `piece(modulePath:)`, without a half).
    public static func modulePath(storageKey: String, layer: Int?, expert: Int?, naming: ExpertNaming) -> String {
        var c = storageKey.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let expert, let i = mlpExpertsIndex(c), i + 1 < c.count, c[i + 1] == "experts" {
            switch naming {
            case .sequential:
                c.replaceSubrange(i + 1...i + 1, with: ["local_experts", String(expert)])
            case .grouped:
                c.remove(at: i + 1)
                c[c.count - 1] += String(expert)
            }
        }
        if let layer, let i = stackedListIndex(c) { c.insert(String(layer), at: i + 1) }
        return c.joined(separator: ".")
    }

    /// The DCP key of a half (or the whole) of a module path, as this tool writes it.
    public static func dcpKey(modulePath: String, half: Half?) -> String {
        writtenPrefix + modulePath + (half?.suffix ?? "")
    }

    /// megatron-core's `is_swiglu_key` patterns (`handle_swiglu_in_state_dict`), on a path's components:
    /// `….mlp.linear_fc1.{weight,bias}`, `….mlp.shared_experts.linear_fc1.…`, `….mlp.experts.linear_fc1.
    /// {weight,bias}N` and `….mlp.experts.local_experts.N.linear_fc1.{weight,bias}`.
    public static func isSwiGLUFC1(_ c: [String]) -> Bool {
        let n = c.count
        guard n >= 3, c[n - 2] == "linear_fc1" else { return false }
        let last = c[n - 1]
        let plain = last == "weight" || last == "bias"
        if c[n - 3] == "mlp" || (c[n - 3] == "shared_experts" && n >= 4 && c[n - 4] == "mlp") { return plain }
        if c[n - 3] == "experts", n >= 4, c[n - 4] == "mlp" { return numbered(last) != nil }
        if n >= 6, index(c[n - 3]) != nil, c[n - 4] == "local_experts", c[n - 5] == "experts", c[n - 6] == "mlp" { return plain }
        return false
    }

    /// The module list whose entries torch_dist stacks on a leading axis: a TransformerBlock's `layers`, and
    /// the `deepstack_merger_list` inside Megatron-Bridge ≥ 0.6's Qwen3-VL vision `decoder` (an nn.ModuleList
    /// its `sharded_state_dict` stacks like layers). Megatron-Bridge 0.3's HF-named
    /// `vision_model.deepstack_merger_list.N` is not stacked, and stays as it is.
    private static func stackedListIndex(_ c: [String]) -> Int? {
        c.indices.first { c[$0] == "layers" || (c[$0] == "deepstack_merger_list" && $0 > 0 && c[$0 - 1] == "decoder") }
    }

    /// The position of `experts` in a `….mlp.experts.…` path.
    private static func mlpExpertsIndex(_ c: [String]) -> Int? {
        guard c.count > 2 else { return nil }
        return (1..<c.count - 1).first { c[$0] == "experts" && c[$0 - 1] == "mlp" }
    }

    /// A component that is an index (digits only, no sign or leading zero beyond "0").
    private static func index(_ s: String) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), s == "0" || !s.hasPrefix("0"), s.count <= 9 else { return nil }
        return Int(s)
    }

    /// `weightN` / `biasN` as (`weight`, N).
    private static func numbered(_ s: String) -> (String, Int)? {
        for name in ["weight", "bias"] where s.hasPrefix(name) {
            if let n = index(String(s.dropFirst(name.count))) { return (name, n) }
        }
        return nil
    }
}
