import Foundation
import TensorCore

/// A legacy Megatron checkpoint (`--ckpt-format torch`): one `model_optim_rng.pt` per (tp, pp, ep) rank
/// holding that rank's local shards. No global shapes are stored; reassembling global tensors needs
/// per-key parallelism rules, which the conversion engine owns. This exposes each rank's file.
public final class LegacyMegatronCheckpoint {
    /// The iteration folder.
    public let directory: String
    public let iteration: CheckpointIteration?
    /// Ranks present, sorted by (pp, ep, tp).
    public let ranks: [LegacyRank]
    /// Whether folder names carry a PP / EP part.
    public let pipelineParallel: Bool
    public let expertParallel: Bool
    private let paths: [LegacyRank: String]
    /// Whether rank files check every zip entry's CRC-32 as they are opened.
    public let verifyCRC: Bool
    private let lock = NSLock()
    private var opened: [LegacyRank: LegacyRankFile] = [:]

    /// True when `path` is a legacy iteration folder (it has an `mp_rank_*` folder).
    public static func isCheckpointFolder(_ path: String) -> Bool {
        guard FileSystem.isDirectory(path), let names = try? FileSystem.list(path) else { return false }
        return names.contains { LegacyRank.components(of: $0) != nil && FileSystem.isDirectory(FileSystem.join(path, $0)) }
    }

    /// Opens an iteration folder or a root (tracker or single iteration folder).
    ///
    /// Folder names `mp_rank_XX_YYY` are ambiguous (PP or EP); `pipelineParallel`/`expertParallel` settle
    /// it, else the saved `args` of the first rank do (`pipeline_model_parallel_size`,
    /// `expert_model_parallel_size`), else it is an error.
    /// `verifyIntegrity`: check `integrity.json` (when present) on opening; default: as `verifyCRC`.
    public init(path: String, pipelineParallel: Bool? = nil, expertParallel: Bool? = nil, verifyCRC: Bool = false,
                verifyIntegrity: Bool? = nil) throws {
        self.verifyCRC = verifyCRC
        let (dir, it) = try MegatronCheckpointRoot.resolve(path, kind: "legacy Megatron", isCheckpoint: Self.isCheckpointFolder)
        directory = dir
        iteration = it
        // megatron-core writes no manifest for legacy checkpoints; one that is there is still checked.
        if verifyIntegrity ?? verifyCRC { try IntegrityManifest.verifyIfPresent(directory: dir) }
        var found = [(String, [Int])]()
        for name in try FileSystem.list(dir) {
            guard let c = LegacyRank.components(of: name), FileSystem.isDirectory(FileSystem.join(dir, name)) else { continue }
            let file = FileSystem.join(dir, name, LegacyRank.fileName)
            guard FileSystem.isFile(file) else {
                throw TorchFormatsError(.checkpointLayout, "rank folder has no \(LegacyRank.fileName)", file: FileSystem.join(dir, name))
            }
            found.append((file, c))
        }
        let counts = Set(found.map { $0.1.count })
        guard counts.count == 1, let n = counts.first else {
            throw TorchFormatsError(.checkpointLayout, "rank folders mix naming schemes (\(found.map { FileSystem.basename(FileSystem.dirname($0.0)) }.prefix(4).joined(separator: ", ")))",
                                    file: dir)
        }
        var pp = false, ep = false
        switch n {
        case 1: break
        case 3: (pp, ep) = (true, true)
        default:
            // Two numbers: mp_rank_TT_XXX where XXX is the PP rank or the EP rank, never both.
            switch (pipelineParallel, expertParallel) {
            case let (p?, e?):
                guard p != e else {
                    throw TorchFormatsError(.checkpointLayout, "folders named mp_rank_XX_YYY carry exactly one of the pipeline and expert ranks",
                                            file: dir, hint: "pipelineParallel and expertParallel cannot both be \(p)")
                }
                (pp, ep) = (p, e)
            case let (p?, nil): (pp, ep) = (p, !p)
            case let (nil, e?): (pp, ep) = (!e, e)
            case (nil, nil): (pp, ep) = try Self.parallelismFromArgs(found.sorted { $0.0 < $1.0 }[0].0)
            }
        }
        var map = [LegacyRank: String]()
        for (file, c) in found {
            var r = LegacyRank(tp: c[0])
            if n == 3 {
                r.pp = c[1]; r.ep = c[2]
            } else if n == 2 {
                if pp { r.pp = c[1] } else { r.ep = c[1] }
            }
            guard map[r] == nil else { throw TorchFormatsError(.checkpointLayout, "two folders for rank \(r)", file: dir) }
            map[r] = file
        }
        paths = map
        ranks = map.keys.sorted()
        self.pipelineParallel = pp
        self.expertParallel = ep
    }

    private static func parallelismFromArgs(_ file: String) throws -> (Bool, Bool) {
        let args = try LegacyRankFile(path: file).args
        let p = args?["pipeline_model_parallel_size"]?.intValue ?? 0
        let e = args?["expert_model_parallel_size"]?.intValue ?? 0
        guard (p > 1) != (e > 1) else {
            throw TorchFormatsError(.checkpointLayout, "rank folders named mp_rank_XX_YYY, but the saved args do not say whether YYY is the pipeline or the expert rank",
                                    file: file, hint: "pass pipelineParallel/expertParallel explicitly")
        }
        return (p > 1, e > 1)
    }

    /// The path of a rank's `model_optim_rng.pt`.
    public func path(of rank: LegacyRank) throws -> String {
        guard let p = paths[rank] else { throw TorchFormatsError(.notFound, "no folder for rank \(rank)", file: directory) }
        return p
    }

    /// A rank's file, opened once and cached.
    public func file(_ rank: LegacyRank) throws -> LegacyRankFile {
        lock.lock()
        if let f = opened[rank] { lock.unlock(); return f }
        lock.unlock()
        let f = try LegacyRankFile(path: try path(of: rank), verifyCRC: verifyCRC)
        lock.lock()
        opened[rank] = f
        lock.unlock()
        return f
    }
}

/// One legacy rank file, `model_optim_rng.pt`: `{'args', 'checkpoint_version', 'iteration', 'model' (or
/// 'model0', 'model1', … with virtual pipelining), 'optimizer', 'rng_state', …}`.
public final class LegacyRankFile {
    public let torchSave: TorchSaveFile

    public init(path: String, verifyCRC: Bool = false) throws {
        torchSave = try TorchSaveFile(path: path, verifyCRC: verifyCRC)
        guard torchSave.root.dictItems != nil else {
            throw TorchFormatsError(.torchSaveInvalid, "the root is a \(torchSave.root.kindDescription), not a dict", file: path)
        }
    }

    public var path: String { torchSave.path }
    public var root: PickleValue { torchSave.root }
    /// The saved `argparse.Namespace`, if any.
    public var args: PickleValue? { root["args"] }
    public var checkpointVersion: Double? { root["checkpoint_version"]?.doubleValue }
    public var iteration: Int? { root["iteration"]?.intValue }

    /// `model`, or `model0`, `model1`, … (virtual pipeline chunks), in order.
    public var modelKeys: [String] {
        let keys = root.stringKeyedItems?.map(\.0) ?? []
        if keys.contains("model") { return ["model"] }
        return keys.filter { $0.hasPrefix("model") && Int($0.dropFirst(5)) != nil }.sorted { Int($0.dropFirst(5))! < Int($1.dropFirst(5))! }
    }

    /// The local state dict of one model chunk: tensors as views, `_extra_state` and other values raw.
    public func model(_ key: String = "model") throws -> TorchStateDict {
        guard root[key] != nil else {
            throw TorchFormatsError(.notFound, "the rank file has no '\(key)' state dict", file: path,
                                    hint: modelKeys.isEmpty ? "it holds no model" : "it has \(modelKeys.joined(separator: ", "))")
        }
        return try torchSave.stateDict(at: [key])
    }
}
