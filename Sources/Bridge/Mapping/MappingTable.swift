/// One model family's weight-name table, loaded from `Mappings/<family>.yaml`. Names are data; the
/// transforms, parallel kinds, index domains and conditions it refers to are the code-defined vocabularies below.
public struct MappingTable: Sendable {
    public var family: String
    public var description: String
    /// HF `architectures[0]` values this table handles.
    public var architectures: [String]
    /// The Megatron-Bridge provider class (written to run_config.yaml).
    public var provider: String
    /// Where the text fields sit in config.json ("" for the top level).
    public var textSection: String
    /// Where the vision fields sit, for vision-language families.
    public var visionSection: String?
    /// Vision layouts the table defines; the first is the default for import.
    public var visionLayouts: [VisionLayout]
    public var stacks: [StackRule]
    public var expertRules: [ExpertRule]
    public var tensors: [TensorRule]
    public var extraStates: [ExtraStateRule]
    /// The file the table was read from (for errors).
    public var path: String
}

/// "torch_dist stores the modules under this per-index prefix as one tensor with a leading axis."
public struct StackRule: Sendable {
    /// E.g. `language_model.decoder.layers.*` (exactly one `*`).
    public var prefix: NamePattern
    public var over: IndexDomain
}

/// "The grouped-GEMM weight `<logical>` with expert suffix is stored under `<storage>` with an expert axis."
public struct ExpertRule: Sendable {
    /// E.g. `mlp.experts.linear_fc1.weight*` (a name suffix ending in `*`).
    public var logical: NamePattern
    /// E.g. `mlp.experts.experts.linear_fc1.weight`.
    public var storage: String
}

/// One HF source of a mapping entry.
public struct HFSource: Sendable {
    /// The role a transform knows it by (`q`, `k`, `v`, `gate`, `up`), or "" for a single source.
    public var role: String
    public var pattern: NamePattern
    /// The expected shape as expressions over the config (`[heads*head_dim, hidden]`), or nil for `**`
    /// entries, whose shapes come from the entries that declare the same HF names.
    public var shape: [String]?
}

/// One entry of a table: a Megatron parameter and the HF tensors it is made from.
public struct TensorRule: Sendable {
    public var megatron: NamePattern
    public var hf: [HFSource]
    public var transform: TransformKind
    public var parallel: ParallelKind
    /// The index domains of the Megatron pattern's `*`s, in order.
    public var over: [IndexDomain]
    /// All must hold for the entry to apply.
    public var when: [Condition]
    /// The vision layout the entry belongs to (nil: every layout).
    public var layout: VisionLayout?
    /// The pipeline stage that holds the parameter when it is not per-layer (`first` by default).
    public var stage: PipelineStagePlacement
    /// Where the entry is in its file, for errors.
    public var origin: String
}

/// A TransformerEngine `_extra_state` object to write (as `[None]`) for each index of `over`.
public struct ExtraStateRule: Sendable {
    public var megatron: NamePattern
    public var over: [IndexDomain]
    public var when: [Condition]
    public var layout: VisionLayout?
    public var stage: PipelineStagePlacement
    public var origin: String
}

/// What the `*`s of a Megatron pattern run over, computed from the provider config.
public enum IndexDomain: String, Sendable, CaseIterable {
    /// Every text decoder layer.
    case textLayers = "text_layers"
    /// Text layers with a dense MLP (all of a dense model; those `mlp_only_layers`/`decoder_sparse_step` leave dense in a MoE model).
    case denseLayers = "dense_layers"
    /// Text layers with routed experts.
    case moeLayers = "moe_layers"
    /// Global expert indices 0..<E.
    case experts
    /// Vision transformer blocks.
    case visionBlocks = "vision_blocks"
    /// DeepStack mergers.
    case deepstack
}

/// Conditions on the config or the checkpoint under which an entry applies.
public enum Condition: String, Sendable, CaseIterable {
    /// `tie_word_embeddings` is true.
    case tied
    /// `tie_word_embeddings` is false.
    case untied
    /// The HF checkpoint stores experts fused (`gate_up_proj`, `down_proj`).
    case fusedExperts = "fused-experts"
    /// The HF checkpoint stores one tensor per expert.
    case perExpert = "per-expert"
    /// `attention_bias` is true.
    case qkvBias = "qkv-bias"
}

/// How the Qwen3-VL vision tower is laid out on the Megatron side (`--vision-layout`).
public enum VisionLayout: String, Sendable, CaseIterable {
    /// Megatron-Bridge ≥ 0.6: `vision_model.decoder.layers.*`, per-head interleaved qkv, TP-sharded.
    case megatron
    /// Megatron-Bridge 0.3 and ms-swift: the HF module under `vision_model.`, replicated.
    case hf
}

/// Which pipeline stage holds a parameter that is not per-layer.
public enum PipelineStagePlacement: String, Sendable {
    case first
    case last
}

/// How a Megatron parameter is split across tensor-, expert- and pipeline-parallel ranks.
public enum ParallelKind: String, Sendable, CaseIterable {
    /// Split on axis 0 across TP (fused QKV by whole query groups; gated fc1 as [gate_r; up_r] per rank).
    case column
    /// Split on axis 1 across TP; 1-D biases are replicated.
    case row
    /// Whole on every rank; written once by TP rank 0.
    case replicated
    /// The (padded) vocabulary split on axis 0 across TP.
    case vocab
    /// A routed expert, owned by one EP rank, split on axis 0 across ETP.
    case expertColumn = "expert-column"
    /// A routed expert, owned by one EP rank, split on axis 1 across ETP.
    case expertRow = "expert-row"

    public var isExpert: Bool { self == .expertColumn || self == .expertRow }
}

/// The transforms that turn HF tensors into a Megatron parameter (and back: each is a list of
/// corresponding regions, so the inverse is the same list read the other way).
public enum TransformKind: String, Sendable, CaseIterable {
    /// The same tensor.
    case copy
    /// q, k, v interleaved per query group: [q(g0); k(g0); v(g0); q(g1); ...] (text GQA).
    case qkv
    /// One HF [Q; K; V] tensor interleaved per head: [q_h; k_h; v_h] for each head (vision).
    case visionQKV = "vision-qkv"
    /// [gate; up] along axis 0 (dense MLP, or one expert from per-expert HF tensors).
    case gateUp = "gate-up"
    /// One expert's [gate; up] from the fused HF `gate_up_proj` ([E,H,2I] hub or [E,2I,H] transformers-5).
    case fusedExpertGateUp = "fused-expert-gate-up"
    /// One expert's down projection from the fused HF `down_proj` ([E,I,H] hub or [E,H,I] transformers-5).
    case fusedExpertDown = "fused-expert-down"
    /// The embedding or output layer, padded with zero rows to the padded vocabulary.
    case vocab

    /// The roles the transform reads its HF sources by.
    public var roles: [String] {
        switch self {
        case .qkv: return ["q", "k", "v"]
        case .gateUp: return ["gate", "up"]
        default: return [""]
        }
    }

    /// Whether the Megatron side consumes one more index than the HF side (the expert index of a fused tensor).
    public var indexesIntoHF: Bool { self == .fusedExpertGateUp || self == .fusedExpertDown }

    /// Whether the result is a SwiGLU [gate; up] pair, which Megatron shards as [gate_r; up_r] per rank.
    public var isGated: Bool { self == .gateUp || self == .fusedExpertGateUp }
}
