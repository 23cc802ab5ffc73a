import Foundation
import TensorCore

/// Which save of a Megatron checkpoint root: `release/` or `iter_{N:07d}/` (Megatron-LM `get_checkpoint_name`).
public enum CheckpointIteration: Equatable, Hashable, Sendable, CustomStringConvertible {
    case release
    case number(Int)

    /// The iteration folder's name.
    public var folderName: String {
        switch self {
        case .release: return "release"
        case let .number(n):
            let s = String(n)
            return "iter_" + String(repeating: "0", count: Swift.max(0, 7 - s.count)) + s
        }
    }

    /// What the tracker file `latest_checkpointed_iteration.txt` holds for it.
    public var trackerText: String {
        switch self {
        case .release: return "release"
        case let .number(n): return String(n)
        }
    }

    /// The iteration an iteration folder name stands for, nil for other names.
    public init?(folderName: String) {
        if folderName == "release" {
            self = .release
            return
        }
        guard folderName.hasPrefix("iter_"), let n = Int(folderName.dropFirst(5)), n >= 0,
              folderName.dropFirst(5).allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        self = .number(n)
    }

    /// The tracker file's content (`release` or a non-negative integer, surrounding whitespace ignored).
    public init?(trackerText: String) {
        let t = trackerText.trimmingCharacters(in: .whitespacesAndNewlines)
        if t == "release" {
            self = .release
        } else if let n = Int(t), n >= 0 {
            self = .number(n)
        } else {
            return nil
        }
    }

    public var description: String { folderName }
}

/// Megatron checkpoint roots: the tracker file and the resolution of a path to one iteration folder.
public enum MegatronCheckpointRoot {
    public static let trackerFileName = "latest_checkpointed_iteration.txt"

    /// Resolves `path` to an iteration folder.
    ///
    /// Policy: a path that already is a checkpoint folder (`isCheckpoint`) is used as is. Otherwise it
    /// must be a root: the tracker file, when present, names the iteration (`release` or N →
    /// `iter_{N:07d}`) and that folder must be a checkpoint; without a tracker, exactly one `release` or
    /// `iter_*` folder must be a checkpoint. Anything else is an error that says what was found.
    public static func resolve(_ path: String, kind: String,
                               isCheckpoint: (String) -> Bool) throws -> (directory: String, iteration: CheckpointIteration?) {
        if isCheckpoint(path) { return (path, CheckpointIteration(folderName: FileSystem.basename(path))) }
        guard FileSystem.isDirectory(path) else {
            throw TorchFormatsError(.notFound, "no such folder", file: path, hint: "point at a \(kind) checkpoint folder or its root")
        }
        let tracker = FileSystem.join(path, trackerFileName)
        if FileSystem.isFile(tracker) {
            let it = try readTracker(tracker)
            let dir = FileSystem.join(path, it.folderName)
            guard isCheckpoint(dir) else {
                throw TorchFormatsError(.checkpointLayout, "the tracker names iteration '\(it.trackerText)' but \(it.folderName) is not a \(kind) checkpoint",
                                        file: tracker, hint: "fix the tracker file or point at an iteration folder directly")
            }
            return (dir, it)
        }
        let candidates = try FileSystem.list(path).filter { CheckpointIteration(folderName: $0) != nil && isCheckpoint(FileSystem.join(path, $0)) }
        guard candidates.count == 1 else {
            throw TorchFormatsError(.checkpointLayout,
                                    candidates.isEmpty ? "no \(kind) checkpoint here (no tracker file and no iteration folder)"
                                        : "several iteration folders (\(candidates.joined(separator: ", "))) and no tracker file",
                                    file: path, hint: "point at one iteration folder")
        }
        return (FileSystem.join(path, candidates[0]), CheckpointIteration(folderName: candidates[0]))
    }

    /// Reads a tracker file.
    public static func readTracker(_ path: String) throws -> CheckpointIteration {
        let text: String
        do { text = String(decoding: try readWholeFile(path), as: UTF8.self) } catch { throw TorchFormatsError.wrap(error, file: path) }
        guard let it = CheckpointIteration(trackerText: text) else {
            throw TorchFormatsError(.checkpointLayout, "tracker says '\(text.prefix(40))', expected 'release' or an iteration number",
                                    file: path)
        }
        return it
    }

    /// Writes `latest_checkpointed_iteration.txt` into `root` (no newline, as Megatron-LM writes it).
    public static func writeTracker(root: String, iteration: CheckpointIteration) throws {
        let path = FileSystem.join(root, trackerFileName)
        do { try writeWholeFile(path, Array(iteration.trackerText.utf8)) } catch { throw TorchFormatsError.wrap(error, file: path) }
    }
}
