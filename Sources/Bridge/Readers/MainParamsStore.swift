import TensorCore
import TorchFormats

/// Which weights `export` takes from a Megatron training checkpoint.
public enum WeightsChoice: String, CaseIterable, Sendable {
    /// The model's own parameters (bf16 under mixed precision): what inference runs.
    case model
    /// The optimizer's fp32 master copies of the trained parameters (`--weights main-params`).
    case mainParams = "main-params"
}

/// A torch_dist checkpoint whose trained parameters read as the optimizer's fp32 master copies.
///
/// megatron-core keeps the master copy of model parameter `K` as a tensor of `K`'s global shape under
/// `optimizer.state.<name>.K`, where `<name>` depends on the optimizer and its sharding type:
/// - `fp32_param`: `Float16OptimizerWithFloat16Params.sharded_state_dict` and the DistributedOptimizer's
///   `fully_sharded_model_space` format (`sharded_param_state_fs_model_space` renames `param`);
/// - `param`: the DistributedOptimizer's `fully_reshardable` format (`sharded_param_state_fully_reshardable`
///   keeps the name of `get_parameter_state_dp_zero`).
/// `dp_reshardable` stores flat per-bucket buffers (`optimizer.distributed.dp_group_idx_*.gbuf_idx_*…`)
/// whose mapping to parameters is the DDP grad-buffer layout, not in the checkpoint: refused
/// (`DPReshardableBuckets` says why).
///
/// The sharding type is `content_metadata['distrib_optim_sharding_type']` of the common state when the
/// checkpoint records it, else the name present. Every parameter that has optimizer state must have a
/// master copy of its shape, unless it is fp32 itself (then it is its own master, `ownMaster`); a
/// parameter with no optimizer state at all was frozen (not trained) and reads as its model weight,
/// counted in `frozen`.
public final class MainParamsStore: TensorStore {
    public let base: TensorStore
    /// The master-copy key prefix in use (`optimizer.state.fp32_param.` or `optimizer.state.param.`).
    public let prefix: String
    /// Where the layout was decided (`content_metadata distrib_optim_sharding_type 'X'` or `key names`).
    public let decidedBy: String
    /// Model keys read from their master copy, sorted.
    public let trained: [String]
    /// Model keys with no optimizer state (frozen), read as the model weights, sorted.
    public let frozen: [String]
    /// fp32 model keys with optimizer state but no copy (stepped in place, their own master), read as they are.
    public let ownMaster: [String]
    private let masters: [String: String]

    public init(_ checkpoint: TorchDistCheckpoint) throws {
        let store = TorchDistStore(checkpoint)
        base = store
        let path = checkpoint.directory
        let names = checkpoint.tensorKeys
        let sharding = try Self.shardingType(checkpoint)
        let hint = "export the model weights instead (--weights model, the default)"
        func stored(_ key: String) throws -> TensorSource {
            try BridgeError.during("cannot read '\(key)' to pair model tensors with their master copies", file: path, key: key) {
                try store.tensorSource(key)
            }
        }
        // Megatron-Bridge and `import` record a sharding type even when no optimizer state was saved.
        guard names.contains(where: { TrainingStateKind.classify($0) == .optimizer }) else {
            throw BridgeError(.missingKeys, "--weights main-params: the checkpoint holds no optimizer state (no optimizer.* tensors)", file: path,
                              hint: "it was saved without optimizer state (--no-save-optim, or a conversion); \(hint)")
        }
        if names.contains(where: DPReshardableBuckets.isBucket) {
            throw DPReshardableBuckets.refusal(checkpoint, names: names)
        }
        // Optimizer state per model key: `optimizer.state.<name>.<model key>`.
        let statePrefix = "optimizer.state."
        var stateOf = [String: Set<String>]()
        for n in names where n.hasPrefix(statePrefix) {
            let rest = n.dropFirst(statePrefix.count)
            guard let dot = rest.firstIndex(of: ".") else { continue }
            stateOf[String(rest[rest.index(after: dot)...]), default: []].insert(String(rest[..<dot]))
        }
        let name: String
        switch sharding {
        case "fully_reshardable"?: name = "param"
        case "dp_reshardable"?:
            throw BridgeError(.request, "--weights main-params: content_metadata says dp_reshardable but no optimizer.distributed.*gbuf_idx_* buckets are stored",
                              file: path, key: "content_metadata.distrib_optim_sharding_type", hint: "the checkpoint is inconsistent; \(hint)")
        case "fully_sharded_model_space"?: name = "fp32_param"
        case let other?:
            throw BridgeError(.request, "--weights main-params: unknown distrib_optim_sharding_type '\(other)'", file: path,
                              key: "content_metadata.distrib_optim_sharding_type",
                              hint: "known: fully_reshardable, fully_sharded_model_space, dp_reshardable; \(hint)")
        case nil:
            let found = Set(stateOf.values.flatMap { $0 }).intersection(["fp32_param", "param"])
            guard found.count == 1, let only = found.first else {
                throw BridgeError(.missingKeys, found.isEmpty ? "--weights main-params: the checkpoint holds no fp32 master weights (no optimizer.state.fp32_param.* or optimizer.state.param.* tensors)"
                                      : "--weights main-params: both optimizer.state.fp32_param.* and optimizer.state.param.* are present and no content_metadata says which is the master copy",
                                  file: path, hint: found.isEmpty ? "the checkpoint was saved without optimizer state (--no-save-optim) or by a plain fp32 optimizer; \(hint)" : hint)
            }
            name = only
        }
        prefix = statePrefix + name + "."
        decidedBy = sharding.map { "content_metadata distrib_optim_sharding_type '\($0)'" } ?? "optimizer.state.\(name).* keys"
        let modelKeys = names.filter { TrainingStateKind.classify($0) == nil }
        var m = [String: String](), trained = [String](), frozen = [String](), ownMaster = [String]()
        for k in modelKeys {
            guard let states = stateOf[k] else { frozen.append(k); continue }
            guard states.contains(name) else {
                // Float16OptimizerWithFloat16Params steps fp32 model parameters in place (its
                // fp32_from_fp32 groups): they have moments but no copy, being their own master.
                if try stored(k).dtype == .f32 { ownMaster.append(k); continue }
                throw BridgeError(.missingKeys, "--weights main-params: '\(k)' has optimizer state (\(states.sorted().joined(separator: ", "))) but no master copy '\(prefix)\(k)'",
                                  file: path, key: k, hint: "the optimizer state is incomplete; \(hint)")
            }
            let master = prefix + k
            let ms = try stored(master).shape, ks = try stored(k).shape
            guard ms == ks else {
                throw BridgeError(.shape, "master copy has shape \(Shape.describe(ms)) but the model tensor has \(Shape.describe(ks))", file: path, key: master,
                                  hint: "the optimizer state belongs to another model or layout; \(hint)")
            }
            m[k] = master
            trained.append(k)
        }
        guard !trained.isEmpty else {
            throw BridgeError(.missingKeys, "--weights main-params: no model tensor has a master copy under \(prefix)*", file: path, hint: hint)
        }
        masters = m
        self.trained = trained
        self.frozen = frozen
        self.ownMaster = ownMaster
    }

    public var tensorNames: [String] { base.tensorNames }
    public var origin: String? { base.origin }

    public func tensorSource(_ name: String) throws -> TensorSource {
        try base.tensorSource(masters[name] ?? name)
    }

    /// `content_metadata['distrib_optim_sharding_type']` from the common state, when recorded.
    static func shardingType(_ c: TorchDistCheckpoint) throws -> String? {
        guard let common = try c.commonState, let v = common["content_metadata"]?["distrib_optim_sharding_type"] else { return nil }
        guard let s = v.stringValue else {
            throw BridgeError(.config, "content_metadata distrib_optim_sharding_type is a \(v.kindDescription), not a string", file: c.directory,
                              key: "content_metadata.distrib_optim_sharding_type")
        }
        return s
    }
}
