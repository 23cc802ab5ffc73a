import Foundation
import TensorCore

/// Where one tensor chunk of a torch_dist checkpoint lives (for `inspect`).
public struct DCPChunkLocation: Sendable {
    public let key: String
    /// The chunk's region of the global tensor.
    public let box: Box
    /// The data file (relative to the checkpoint folder).
    public let file: String
    /// The torch.save archive's byte range in `file`.
    public let offset: Int
    public let length: Int
}

/// A Megatron-Core `torch_dist` checkpoint (torch.distributed.checkpoint with MCore's conventions),
/// read without torch.
///
/// Global tensors are reassembled lazily: each chunk is a torch.save archive at `(file, offset, length)`
/// whose storage is a contiguous region of the mapped `.distcp` file, so a tensor is a `TiledTensor` of
/// views and reading it touches only its pages. Every chunk is checked when its tensor is opened: the
/// archive lies inside its file, the saved shape equals the chunk's sizes (leading 1s included), the
/// dtype equals the metadata's, the storage is compact, and the chunks tile the global shape exactly.
public final class TorchDistCheckpoint {
    public static let metadataFileName = ".metadata"
    public static let commonFileName = "common.pt"
    public static let configFileName = "metadata.json"
    public static let runConfigFileName = "run_config.yaml"
    public static let trainStateFileName = "train_state.pt"
    /// MCore 0.19 keeps the common state inside DCP under this key when there is no common.pt.
    public static let commonStateKey = "common_state/shard_0_1"

    /// The iteration folder.
    public let directory: String
    /// The iteration the folder stands for, when its name says (`release`, `iter_0000010`).
    public let iteration: CheckpointIteration?
    public let metadata: DCPMetadata
    /// `metadata.json` (MCore's `CheckpointingConfig`), when present.
    public let metadataJSON: JSONValue?
    /// Megatron-Bridge's `run_config.yaml`, raw, when present.
    public let runConfigYAML: String?
    /// Tensor keys, sorted.
    public let tensorKeys: [String]
    /// Byte item keys (ShardedObjects), sorted.
    public let byteKeys: [String]
    /// Verify zip CRCs of every item opened, and `integrity.json` (when present) on opening.
    public let verifyCRC: Bool

    private let tensorEntries: [String: DCPMetadata.TensorEntry]
    private let byteKeySet: Set<String>
    private let locations: [DCPMetadata.StorageIndex: DCPMetadata.StorageInfo]
    private let lock = NSLock()
    private var files: [String: MappedFile] = [:]
    private var tensorCache: [String: TiledTensor] = [:]

    /// True when `path` is a torch_dist iteration folder (it has `.metadata`).
    public static func isCheckpointFolder(_ path: String) -> Bool {
        FileSystem.isFile(FileSystem.join(path, metadataFileName))
    }

    /// Opens an iteration folder (holding `.metadata`) or a checkpoint root (resolved through
    /// `latest_checkpointed_iteration.txt`, or its only `release`/`iter_*` folder).
    /// - Parameter asMegatron: the folder is read as a Megatron checkpoint (conversion, forward), so a bare
    ///   DCP save without megatron-core's files is refused as Megatron FSDP's `fsdp_dtensor`; plain DCP
    ///   folders (ours, or torch's own saves) are read as they are otherwise.
    /// - Parameter verifyIntegrity: check `integrity.json` (when present) on opening; default: as `verifyCRC`.
    public init(path: String, verifyCRC: Bool = false, asMegatron: Bool = false, verifyIntegrity: Bool? = nil) throws {
        let (dir, it) = try MegatronCheckpointRoot.resolve(path, kind: "torch_dist", isCheckpoint: Self.isCheckpointFolder)
        directory = dir
        iteration = it
        self.verifyCRC = verifyCRC
        // The manifest first: a damaged file is then reported as what it is, not as the parse error it causes.
        if verifyIntegrity ?? verifyCRC { try IntegrityManifest.verifyIfPresent(directory: dir) }
        metadata = try DCPMetadata(path: FileSystem.join(dir, Self.metadataFileName))
        let jsonPath = FileSystem.join(dir, Self.configFileName)
        if FileSystem.isFile(jsonPath) {
            do { metadataJSON = try JSONParser.parse(try readWholeFile(jsonPath)) } catch {
                throw TorchFormatsError.wrap(error, code: .dcpInvalid, file: jsonPath)
            }
            try Self.checkMetadataJSON(metadataJSON!, path: jsonPath)
        } else {
            metadataJSON = nil
        }
        if asMegatron { try Self.refuseFSDPDTensor(directory: dir, metadata: metadata) }
        // common.pt is small: read it whole (CRCs included) so a damaged one fails every command up front.
        let commonPath = FileSystem.join(dir, Self.commonFileName)
        if FileSystem.isFile(commonPath) {
            do { _ = try TorchSaveFile(path: commonPath, verifyCRC: true).root } catch {
                throw TorchFormatsError.wrap(error, code: .dcpInvalid, file: commonPath)
            }
        }
        let yamlPath = FileSystem.join(dir, Self.runConfigFileName)
        if FileSystem.isFile(yamlPath) {
            let raw: [UInt8]
            do { raw = try readWholeFile(yamlPath) } catch { throw TorchFormatsError.wrap(error, file: yamlPath) }
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw TorchFormatsError(.dcpInvalid, "run_config.yaml is not UTF-8 text", file: yamlPath)
            }
            runConfigYAML = text
        } else {
            runConfigYAML = nil
        }
        var t = [String: DCPMetadata.TensorEntry]()
        for (k, e) in metadata.tensors { t[k] = e }
        tensorEntries = t
        tensorKeys = t.keys.sorted()
        byteKeys = metadata.byteKeys.sorted()
        byteKeySet = Set(byteKeys)
        var loc = [DCPMetadata.StorageIndex: DCPMetadata.StorageInfo]()
        for (i, info) in metadata.storage { loc[i] = info }
        locations = loc
    }

    private var metadataPath: String { FileSystem.join(directory, Self.metadataFileName) }

    // MARK: Tensors

    /// The metadata of a tensor key.
    public func tensorEntry(_ key: String) throws -> DCPMetadata.TensorEntry {
        guard let e = tensorEntries[key] else {
            throw TorchFormatsError(.notFound, byteKeySet.contains(key) ? "key is a byte item, not a tensor" : "no tensor with this key",
                                    file: directory, key: key)
        }
        return e
    }

    /// Where every chunk of a tensor key is stored.
    public func chunks(of key: String) throws -> [DCPChunkLocation] {
        let e = try tensorEntry(key)
        return try e.chunks.map { c in
            let info = try location(DCPMetadata.StorageIndex(fqn: key, offset: c.offsets))
            return DCPChunkLocation(key: key, box: c, file: info.relativePath, offset: info.offset, length: info.length)
        }
    }

    /// The global tensor of `key`, reassembled lazily from its chunks.
    public func tensor(_ key: String) throws -> TiledTensor {
        lock.lock()
        if let t = tensorCache[key] { lock.unlock(); return t }
        lock.unlock()
        let e = try tensorEntry(key)
        if let problem = tilingProblem(of: e.chunks, covering: e.size) {
            throw TorchFormatsError(.dcpTiling, problem, file: metadataPath, key: key,
                                    hint: "the checkpoint metadata is corrupt or incomplete; re-save the checkpoint")
        }
        var tiles = [TiledTensor.Tile]()
        tiles.reserveCapacity(e.chunks.count)
        for loc in try chunks(of: key) {
            tiles.append(TiledTensor.Tile(box: loc.box, data: try chunkTensor(loc, dtype: e.dtype)))
        }
        let t: TiledTensor
        do { t = try TiledTensor(dtype: e.dtype, shape: e.size, tiles: tiles, name: key) } catch {
            throw TorchFormatsError.wrap(error, code: .dcpTiling, file: metadataPath, key: key)
        }
        lock.lock()
        tensorCache[key] = t
        lock.unlock()
        return t
    }

    /// One chunk's tensor, checked against the metadata.
    private func chunkTensor(_ loc: DCPChunkLocation, dtype: DType) throws -> ContiguousTensor {
        let item = try openItem(DCPMetadata.StorageInfo(relativePath: loc.file, offset: loc.offset, length: loc.length), key: loc.key)
        let path = item.path
        guard case let .tensor(t) = item.root else {
            throw TorchFormatsError(.dcpInvalid, "chunk \(loc.box) holds a \(item.root.kindDescription), not a tensor", file: path,
                                    key: loc.key, byteOffset: loc.offset)
        }
        guard t.size == loc.box.sizes else {
            throw TorchFormatsError(.dcpInvalid, "chunk \(loc.box) holds a tensor of shape \(Shape.describe(t.size))", file: path,
                                    key: loc.key, byteOffset: loc.offset, hint: "the data file does not match the metadata")
        }
        guard t.dtype == dtype else {
            throw TorchFormatsError(.dcpInvalid, "chunk \(loc.box) holds \(t.dtype) but the metadata says \(dtype)", file: path,
                                    key: loc.key, byteOffset: loc.offset)
        }
        guard t.isCompact else {
            throw TorchFormatsError(.dcpInvalid, "chunk \(loc.box) is a view into a larger storage", file: path, key: loc.key,
                                    byteOffset: loc.offset, hint: "DCP chunks must be saved compact (contiguous, offset 0)")
        }
        return try item.contiguousTensor(t, name: loc.key)
    }

    // MARK: Byte items

    /// The unpickled payload of a byte item (a list of the ShardedObject's values, e.g. `[None]`).
    public func bytesItem(_ key: String) throws -> PickleValue {
        try openItem(try location(byteIndex(key)), key: key).root
    }

    /// The raw bytes of a byte item (a torch.save archive), copied out.
    public func rawBytes(_ key: String) throws -> [UInt8] {
        let info = try location(byteIndex(key))
        let f = try mappedFile(info.relativePath, key: key)
        try checkRange(info, in: f, key: key)
        return Array(try f.bytes(at: info.offset, count: info.length, key: key))
    }

    private func byteIndex(_ key: String) throws -> DCPMetadata.StorageIndex {
        guard byteKeySet.contains(key) else {
            throw TorchFormatsError(.notFound, tensorEntries[key] != nil ? "key is a tensor, not a byte item" : "no byte item with this key",
                                    file: directory, key: key)
        }
        return DCPMetadata.StorageIndex(fqn: key)
    }

    // MARK: Common state and side files

    /// Megatron FSDP's `fsdp_dtensor` format is a bare torch DCP save: `.metadata` with neither
    /// megatron-core's `metadata.json` nor a common state (`common.pt` or the `common_state` item).
    /// Megatron-Bridge detects it by the missing `metadata.json`; its keys follow Megatron FSDP's own
    /// naming (per-layer module paths, SwiGLU fc1 split into `_w`/`_v`), so it is read through its own view
    /// (Bridge's `FSDPDTensorStore`), never as torch_dist keys.
    public static func isFSDPDTensor(directory: String, metadata: DCPMetadata) -> Bool {
        !FileSystem.isFile(FileSystem.join(directory, configFileName))
            && !FileSystem.isFile(FileSystem.join(directory, commonFileName))
            && !metadata.byteKeys.contains(commonStateKey)
    }

    /// `isFSDPDTensor(directory:metadata:)` for an iteration folder, reading only its `.metadata`.
    public static func isFSDPDTensor(directory: String) throws -> Bool {
        if FileSystem.isFile(FileSystem.join(directory, configFileName)) || FileSystem.isFile(FileSystem.join(directory, commonFileName)) {
            return false
        }
        return isFSDPDTensor(directory: directory, metadata: try DCPMetadata(path: FileSystem.join(directory, metadataFileName)))
    }

    /// True when this folder is an `fsdp_dtensor` save.
    public var isFSDPDTensor: Bool { Self.isFSDPDTensor(directory: directory, metadata: metadata) }

    static func refuseFSDPDTensor(directory: String, metadata: DCPMetadata) throws {
        guard isFSDPDTensor(directory: directory, metadata: metadata) else { return }
        throw TorchFormatsError(.dcpUnsupported, "an fsdp_dtensor checkpoint (.metadata without metadata.json or a common state) cannot be read as torch_dist keys",
                                file: FileSystem.join(directory, metadataFileName),
                                hint: "export, inspect, diff, forward and verify read fsdp_dtensor folders; if it is a torch_dist save that lost its metadata.json, restore that file")
    }

    /// megatron-core's `metadata.json`: an object whose `sharded_backend`, when present, is `torch_dist`
    /// (the only backend this reader understands) and whose version fields are integers.
    static func checkMetadataJSON(_ m: JSONValue, path: String) throws {
        guard case .object = m else {
            throw TorchFormatsError(.dcpInvalid, "metadata.json is not a JSON object", file: path,
                                    hint: "megatron-core writes {\"sharded_backend\": \"torch_dist\", …}")
        }
        if let b = m["sharded_backend"] {
            guard b.stringValue == "torch_dist" else {
                throw TorchFormatsError(.dcpInvalid, "metadata.json names sharded_backend \(JSONWriter.write(b, pretty: false)); only torch_dist is read",
                                        file: path, key: "sharded_backend",
                                        hint: "convert the checkpoint to torch_dist with megatron-core first")
            }
        }
        for k in ["sharded_backend_version", "common_backend_version"] {
            if let v = m[k], v.intValue == nil {
                throw TorchFormatsError(.dcpInvalid, "metadata.json field \(k) is not an integer", file: path, key: k)
            }
        }
    }

    /// The common (non-sharded) state: `common.pt` when present (MCore ≤ 0.18, and what MCore 0.19
    /// prefers too), else the `common_state/shard_0_1` item (MCore 0.19), unwrapped from its one-element
    /// list. Nil when the checkpoint has neither.
    public var commonState: PickleValue? {
        get throws {
            let path = FileSystem.join(directory, Self.commonFileName)
            if FileSystem.isFile(path) { return try TorchSaveFile(path: path, verifyCRC: verifyCRC).root }
            guard byteKeySet.contains(Self.commonStateKey) else { return nil }
            let v = try bytesItem(Self.commonStateKey)
            guard let l = v.listValue, l.count == 1 else {
                // torch's default DCP planner wraps a value that already is an io.BytesIO once more; megatron-core's does not.
                throw TorchFormatsError(.dcpInvalid, "common state item is a \(v.kindDescription), expected a one-element list",
                                        file: directory, key: Self.commonStateKey,
                                        hint: "megatron-core >= 0.19 saves torch.save([common state]) there; re-save the checkpoint with megatron-core's dist_checkpointing.save")
            }
            return l[0]
        }
    }

    /// Megatron-Bridge's `train_state.pt`, when present.
    public func trainState() throws -> TorchSaveFile? {
        let path = FileSystem.join(directory, Self.trainStateFileName)
        return FileSystem.isFile(path) ? try TorchSaveFile(path: path, verifyCRC: verifyCRC) : nil
    }

    /// Opens every tensor and byte item once: the full consistency check (`verify`).
    public func validate() throws {
        for k in tensorKeys { _ = try tensor(k) }
        for k in byteKeys { _ = try bytesItem(k) }
    }

    // MARK: Files

    private func location(_ index: DCPMetadata.StorageIndex) throws -> DCPMetadata.StorageInfo {
        guard let info = locations[index] else {
            throw TorchFormatsError(.dcpInvalid, "no storage location for \(index)", file: metadataPath, key: index.fqn)
        }
        return info
    }

    private func mappedFile(_ name: String, key: String) throws -> MappedFile {
        lock.lock()
        defer { lock.unlock() }
        if let f = files[name] { return f }
        let path = FileSystem.join(directory, name)
        let f: MappedFile
        do { f = try MappedFile(path: path) } catch {
            throw TorchFormatsError.wrap(error, code: .dcpInvalid, file: path, key: key)
        }
        files[name] = f
        return f
    }

    private func checkRange(_ info: DCPMetadata.StorageInfo, in f: MappedFile, key: String) throws {
        guard info.offset <= f.size, info.length <= f.size - info.offset else {
            throw TorchFormatsError(.dcpInvalid, "item of \(info.length) bytes at \(info.offset) reaches past the end of the \(f.size)-byte file",
                                    file: f.path, key: key, byteOffset: info.offset,
                                    hint: "the data file is truncated, or the metadata belongs to another save")
        }
    }

    private func openItem(_ info: DCPMetadata.StorageInfo, key: String) throws -> TorchSaveFile {
        let f = try mappedFile(info.relativePath, key: key)
        try checkRange(info, in: f, key: key)
        return try TorchSaveFile(file: f, offset: info.offset, length: info.length, key: key, verifyCRC: verifyCRC)
    }
}
