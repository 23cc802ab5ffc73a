import TensorCore
import TorchFormats

/// Which conversion wrote an output: what `--overwrite` may replace, and how to name it to a user.
public enum Conversion: String, Sendable, CaseIterable {
    /// HF → Megatron (`import`).
    case importToMegatron = "import"
    /// Megatron → HF (`export`).
    case exportToHuggingFace = "export"

    /// What an output of this conversion may replace with `--overwrite`.
    public var replaceable: AtomicOutputDirectory.Replaceable {
        switch self {
        case .importToMegatron: return OutputKinds.megatronCheckpoint
        case .exportToHuggingFace: return OutputKinds.huggingFaceCheckpoint
        }
    }
}

/// Everything a conversion writes, described before a byte is written: the data files (the bulk, each
/// with its planned size) and a writer for the rest (configs, metadata, index, tracker: small files
/// computed from the plan alone).
///
/// One machine writes all of it into an atomic output folder (`write(to:overwrite:)`); a node of a split
/// conversion writes only its share of the data files (`writeData` with a subset), and every node the same
/// rest. Both go through the same writers, so a split output is byte-identical to a whole one.
public struct ConversionOutput {
    /// One data file: its path relative to the output folder and its planned size in bytes.
    public struct DataFile: Equatable, Sendable {
        public var path: String
        public var size: Int

        public init(path: String, size: Int) {
            self.path = path
            self.size = size
        }
    }

    public var conversion: Conversion
    /// The folders the conversion reads (the output may not be, contain or lie inside any of them).
    public var inputs: [String]
    /// The data files, in plan order.
    public var dataFiles: [DataFile]
    /// Writes the data files whose relative paths are given under a root folder (creating subfolders).
    public var writeData: (_ paths: Set<String>, _ root: String, _ executor: WriteExecutor) throws -> Void
    /// Writes every other file under a root folder; called after the data files.
    public var writeRest: (_ root: String) throws -> Void
    /// Folders (relative) that get megatron-core's `integrity.json`, hashed over the complete folder once
    /// every other file is in place: by `write(to:)`, or by `finalize` for a split conversion (no node
    /// holds all of a folder's files).
    public var integrityFolders: [String]

    public init(conversion: Conversion, inputs: [String], dataFiles: [DataFile],
                writeData: @escaping (_ paths: Set<String>, _ root: String, _ executor: WriteExecutor) throws -> Void,
                writeRest: @escaping (_ root: String) throws -> Void, integrityFolders: [String] = []) {
        self.conversion = conversion
        self.inputs = inputs
        self.dataFiles = dataFiles
        self.writeData = writeData
        self.writeRest = writeRest
        self.integrityFolders = integrityFolders
    }

    /// Total planned bytes of the data files.
    public var dataBytes: Int { dataFiles.reduce(0) { $0 + $1.size } }

    /// Writes the whole output at `path`: into a temporary sibling, renamed into place when complete.
    public func write(to path: String, overwrite: Bool, executor: WriteExecutor) throws {
        // The output folder's own refusals (exists, is an input, ...) already speak of `path`: they pass as they are.
        let out = try AtomicOutputDirectory(finalPath: path, overwrite: overwrite, inputs: inputs, replaceable: conversion.replaceable)
        // The data files are hashed for integrity.json while they are written (see StreamingFileDigests).
        var executor = executor
        let digests = integrityFolders.isEmpty ? nil : StreamingFileDigests()
        executor.digests = digests
        var known = [String: (digest: String, size: Int)]()
        try BridgeError.during("cannot write the data files of the \(conversion.rawValue) into \(path)") {
            do {
                try writeData(Set(dataFiles.map(\.path)), out.tempPath, executor)
            } catch {
                digests?.cancel()
                throw error
            }
            known = try digests?.finish() ?? [:]
        }
        try BridgeError.during("cannot write the configs and metadata of the \(conversion.rawValue) into \(path)") {
            try writeRest(out.tempPath)
            try Self.writeIntegrityManifests(integrityFolders, root: out.tempPath, jobs: executor.jobs, known: known)
        }
        try out.commit()
    }

    /// Writes `integrity.json` into each of `folders` under `root`, last, as megatron-core's save() does.
    /// `known` holds digests already computed (by path), used for files whose size they cover.
    public static func writeIntegrityManifests(_ folders: [String], root: String, jobs: Int,
                                               known: [String: (digest: String, size: Int)] = [:]) throws {
        for f in folders { _ = try IntegrityManifest.write(directory: FileSystem.join(root, f), jobs: jobs, known: known) }
    }
}
