import ArgumentParser
import Bridge
import TorchFormats

extension CheckpointIteration: ExpressibleByArgument {
    /// `--iteration 1000` or `--iteration release`, as the tracker file spells them.
    public init?(argument: String) { self.init(trackerText: argument) }
}

/// `--iteration N`: which save of a Megatron checkpoint root to read, shared by every command that reads
/// one (export, plan export, inspect, diff, verify, forward). The selection itself is
/// `MegatronCheckpoint.select`.
struct IterationOption: ParsableArguments {
    @Option(help: ArgumentHelp("Read iter_NNNNNNN/ (or 'release') under a Megatron checkpoint root instead of the one latest_checkpointed_iteration.txt names.",
                               valueName: "N"))
    var iteration: CheckpointIteration?

    /// The folder to read for a path that must be a Megatron checkpoint (export, inspect).
    func resolve(_ path: String) throws -> String {
        try MegatronCheckpoint.select(path, iteration: iteration)
    }

    /// The folder to read for a path that may also be a Hugging Face checkpoint (diff, verify, forward):
    /// `--iteration` applies to Megatron checkpoint roots and leaves anything else as it is.
    func resolveIfMegatron(_ path: String) throws -> String {
        guard iteration != nil, MegatronCheckpoint.isCheckpointRoot(path) else { return path }
        return try resolve(path)
    }
}
