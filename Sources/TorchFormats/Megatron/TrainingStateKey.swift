/// The non-model state Megatron-LM training saves next to the weights of an `iter_NNNNNNN/` folder:
/// optimizer state (`optimizer.*` DCP keys), RNG and rerun-state-machine state, the LR scheduler and
/// the FLOP counter. Classifying a key here keeps it out of the model weights without dropping it
/// silently: `export` reports these keys as training state instead of failing on them as unused, and
/// `inspect` lists them by kind.
public enum TrainingStateKind: String, CaseIterable, Sendable {
    case optimizer
    case rng = "rng_state"
    case rerun = "rerun_state_machine"
    case scheduler = "opt_param_scheduler"
    case flops = "num_floating_point_operations_so_far"

    /// The kind of a DCP key (tensor or byte item; a byte item's `/shard_…` suffix is ignored), or nil
    /// for model state. Prefixes are matched at a dot or slash boundary so a parameter merely starting
    /// with one of the words is never taken for training state.
    public static func classify(_ key: String) -> TrainingStateKind? {
        let head = key.split(separator: "/", maxSplits: 1).first.map(String.init) ?? key
        if head == "optimizer" || head.hasPrefix("optimizer.") { return .optimizer }
        if head == "rng_state" || head.hasPrefix("rng_state.") { return .rng }
        if head.hasPrefix("rerun_state_machine") { return .rerun }
        if head == "opt_param_scheduler" || head.hasPrefix("opt_param_scheduler.") { return .scheduler }
        if head == "num_floating_point_operations_so_far" { return .flops }
        return nil
    }
}
