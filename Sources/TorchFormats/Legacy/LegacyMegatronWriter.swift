import TensorCore

/// Writes legacy Megatron rank files (`iter_N/mp_rank_XX[_YYY][_ZZZ]/model_optim_rng.pt`), streaming
/// tensor payloads from their sources into the planned archive.
public enum LegacyMegatronWriter {
    /// The root dict Megatron-LM saves for a rank: `{'args', 'checkpoint_version': 3.0, 'iteration': N,
    /// 'model': OrderedDict(state dict), …extra}`. Tensors in `model` are `.tensorPayload` leaves.
    public static func rankState(args: PickleValue?, iteration: Int, model: [(String, PickleValue)],
                                 extra: [(String, PickleValue)] = []) -> PickleValue {
        var items = [(String, PickleValue)]()
        if let args { items.append(("args", args)) }
        items.append(("checkpoint_version", .float(3.0)))
        items.append(("iteration", .int(iteration)))
        items.append(("model", .orderedDict(model.map { (.string($0.0), $0.1) })))
        items.append(contentsOf: extra)
        return .stringDict(items)
    }

    /// Writes one rank file at `path` (its folder must exist). The archive folder is the file's base
    /// name, as torch names it (`model_optim_rng`).
    public static func writeRankFile(_ root: PickleValue, to path: String, executor: WriteExecutor = WriteExecutor()) throws {
        try write(try plan(root, fileName: FileSystem.basename(path)), to: path, executor: executor)
    }

    /// Places a rank file's archive (its size is then known) without writing anything.
    public static func plan(_ root: PickleValue, fileName: String) throws -> TorchSavePlan {
        var archive = fileName
        if let dot = archive.lastIndex(of: "."), dot != archive.startIndex { archive = String(archive[..<dot]) }
        return try TorchSaveWriter.plan(root, archiveName: archive)
    }

    /// Writes a planned rank file at `path` (its folder must exist).
    public static func write(_ plan: TorchSavePlan, to path: String, executor: WriteExecutor = WriteExecutor()) throws {
        do {
            let file = try OutputFile(creating: path, size: plan.totalLength)
            try plan.write(to: file, executor: executor)
            try file.sync()
        } catch {
            throw TorchFormatsError.wrap(error, file: path)
        }
    }
}
