import TensorCore
import TorchFormats

extension MegatronCheckpoint {
    /// The folder to read for `--iteration`: `path` unchanged when no iteration is asked for (the tracker
    /// `latest_checkpointed_iteration.txt` then decides, as Megatron-LM's loader does), else the root's
    /// `iter_{N:07d}/` (or `release/`) folder, whatever the tracker says.
    ///
    /// Selection happens here once, before any reader opens the checkpoint, so every command that takes
    /// `--iteration` resolves it the same way and the readers never see the tracker.
    /// - Throws: `BridgeError(.request)` when `path` is itself an iteration folder of another iteration,
    ///   and when the root holds no such iteration (the message lists the iterations it holds).
    public static func select(_ path: String, iteration: CheckpointIteration?) throws -> String {
        guard let iteration else { return path }
        if isIterationFolder(path) {
            // Asking for the iteration a folder already is costs nothing; asking for another is a mistake.
            if CheckpointIteration(folderName: FileSystem.basename(path)) == iteration { return path }
            throw BridgeError(.request, "--iteration \(iteration.trackerText) asks for \(iteration.folderName), but this path is one iteration folder already",
                              file: path, hint: "point at the checkpoint root (\(FileSystem.dirname(path))) or drop --iteration")
        }
        guard FileSystem.isDirectory(path) else {
            throw BridgeError(.unknownFormat, "no such folder", file: path, hint: "point at a Megatron checkpoint root")
        }
        let dir = FileSystem.join(path, iteration.folderName)
        if isIterationFolder(dir) { return dir }
        let present = try iterationsPresent(root: path)
        let tracker = FileSystem.join(path, MegatronCheckpointRoot.trackerFileName)
        let latest = FileSystem.isFile(tracker) ? (try? MegatronCheckpointRoot.readTracker(tracker)).map { "; the tracker names \($0.trackerText)" } ?? "" : ""
        throw BridgeError(.request,
                          "no iteration \(iteration.trackerText) (\(iteration.folderName)/) here; present: \(present.isEmpty ? "none" : present.map(\.folderName).joined(separator: ", "))\(latest)",
                          file: path, hint: present.isEmpty ? "point at a Megatron checkpoint root (it holds iter_NNNNNNN/ folders)"
                              : "pass one of the iterations present (--iteration \(present.last!.trackerText)), or drop --iteration to read the tracker's")
    }

    /// `select` with the iteration as the tracker file spells it (`"1000"`, `"release"`), for callers
    /// that take it as text (the C ABI).
    public static func select(_ path: String, iterationText: String?) throws -> String {
        guard let iterationText else { return path }
        guard let it = CheckpointIteration(trackerText: iterationText) else {
            throw BridgeError(.request, "iteration '\(iterationText)' is neither a non-negative integer nor 'release'", key: "iteration")
        }
        return try select(path, iteration: it)
    }

    /// The iterations a checkpoint root holds (`release` first, then by number): its `release/` and
    /// `iter_*` folders that are torch_dist or legacy checkpoints.
    public static func iterationsPresent(root: String) throws -> [CheckpointIteration] {
        try FileSystem.list(root).compactMap { name -> CheckpointIteration? in
            guard let it = CheckpointIteration(folderName: name), isIterationFolder(FileSystem.join(root, name)) else { return nil }
            return it
        }.sorted { a, b in
            switch (a, b) {
            case (.release, _): return b != .release
            case (_, .release): return false
            case let (.number(x), .number(y)): return x < y
            }
        }
    }

    /// True when `path` holds one iteration's data (torch_dist `.metadata` or legacy `mp_rank_*`).
    static func isIterationFolder(_ path: String) -> Bool {
        TorchDistCheckpoint.isCheckpointFolder(path) || LegacyMegatronCheckpoint.isCheckpointFolder(path)
    }

    /// True when `path` is a folder with Megatron iterations under it (a tracker or an `iter_*`/`release`
    /// folder): the sides of `diff`, `verify` and `forward` to which `--iteration` applies.
    public static func isCheckpointRoot(_ path: String) -> Bool {
        guard FileSystem.isDirectory(path), !isIterationFolder(path) else { return false }
        if FileSystem.isFile(FileSystem.join(path, MegatronCheckpointRoot.trackerFileName)) { return true }
        return ((try? iterationsPresent(root: path)) ?? []).isEmpty == false
    }
}
