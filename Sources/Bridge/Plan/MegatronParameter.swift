import TensorCore

/// One Megatron parameter as the table and config define it: its name, the HF tensors it is made from and
/// how, its shape, and where torch_dist stores it (which pipeline stage holds it is `RankPlacement.stage(of:)`).
public struct MegatronParameter {
    /// The Megatron module name with global indices, e.g. `language_model.decoder.layers.3.mlp.experts.linear_fc1.weight7`.
    public var name: String
    public var rule: TensorRule
    /// The values of the rule's `*`s.
    public var indices: [Int]
    /// HF tensor names by role.
    public var hfNames: [String: String]
    /// The HF shapes the config implies, by role.
    public var hfShapes: [String: [Int]]
    public var shape: [Int]
    public var correspondences: [Correspondence]
    public var zeroBoxes: [Box]
    public var storage: StoragePlacement
    /// The global expert index for expert parameters.
    public var expert: Int?

    public var parallel: ParallelKind { rule.parallel }
    public var gated: Bool { rule.transform.isGated }
}

/// One TransformerEngine `_extra_state` ShardedObject.
public struct ExtraStateObject {
    public var name: String
    public var storage: StoragePlacement
    /// The DCP key: `<storage key>/shard_<offsets>_<shape>`.
    public var dcpKey: String { storage.key + "/" + storage.shardedObjectSuffix }
    public var expert: Int?
    /// The table entry and the values of its `*`s.
    public var rule: ExtraStateRule
    public var indices: [Int]
}
