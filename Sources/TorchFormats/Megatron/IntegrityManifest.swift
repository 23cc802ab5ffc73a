import Foundation
import TensorCore

/// megatron-core's checkpoint integrity manifest, `integrity.json` in an iteration folder
/// (`dist_checkpointing.save(..., verify_integrity=True)`, checked by `load(..., verify_integrity=True)`).
///
/// The layout follows megatron-core's `validation.save_integrity_manifest`: `{"algorithm": "sha256",
/// "files": {NAME: HEX, …}}`, written with `json.dump(indent=2)`; NAME is the bare name of every regular file
/// directly in the iteration folder except `integrity.json` itself (subfolders are not entered), in sorted
/// order; HEX is the 64-digit lowercase SHA-256 of the file's bytes. An absent `algorithm` means sha256.
///
/// Reading is stricter than megatron-core's verifier, which checks only the listed files: here a file that
/// carries checkpoint data (`.metadata`, `*.distcp`, `common.pt`, `metadata.json`) but is not listed is an
/// error too, since nothing vouches for it; megatron-core writes the manifest after all of those, so its own
/// manifests always list them. Files written later by other tools (Megatron-Bridge's `run_config.yaml`) may be
/// unlisted, as upstream allows.
public struct IntegrityManifest: Equatable, Sendable {
    public static let fileName = "integrity.json"
    public static let algorithm = "sha256"

    /// (file name, lowercase hex digest), sorted by name.
    public var files: [(name: String, digest: String)]

    public static func == (a: Self, b: Self) -> Bool { a.files.elementsEqual(b.files) { $0 == $1 } }

    public init(files: [(name: String, digest: String)]) {
        self.files = files.sorted { $0.name < $1.name }
    }

    /// The manifest's bytes, laid out as Python's `json.dump(payload, f, indent=2)` writes them.
    public func serialized() -> [UInt8] {
        let json = JSONValue.object([
            ("algorithm", .string(Self.algorithm)),
            ("files", .object(files.map { ($0.name, .string($0.digest)) })),
        ])
        return Array(JSONWriter.write(json, pretty: true).utf8)
    }

    /// Whether a file name carries checkpoint data that a manifest must list.
    public static func isDataFile(_ name: String) -> Bool {
        name == TorchDistCheckpoint.metadataFileName || name == TorchDistCheckpoint.commonFileName
            || name == TorchDistCheckpoint.configFileName || name.hasSuffix(".distcp")
    }

    // MARK: Writing

    /// Hashes every regular file directly in `directory` (files in parallel, `jobs` at a time) and writes
    /// `integrity.json` there. Called right after the last data byte is written, so the files' pages are
    /// still in the page cache. `known` holds digests computed while the files were written
    /// (`StreamingFileDigests`), by path: one is used only when the file still has the size it covers; every
    /// other file is hashed here.
    @discardableResult
    public static func write(directory: String, jobs: Int = ProcessInfo.processInfo.activeProcessorCount,
                             known: [String: (digest: String, size: Int)] = [:]) throws -> IntegrityManifest {
        let names = try FileSystem.list(directory).filter {
            $0 != fileName && FileSystem.isFile(FileSystem.join(directory, $0)) && !FileSystem.isSymbolicLink(FileSystem.join(directory, $0))
        }.sorted()
        let paths = names.map { FileSystem.join(directory, $0) }
        let reusable = paths.map { p in known[p].flatMap { k in FileSystem.fileSize(p) == k.size ? k.digest : nil } }
        let toHash = paths.indices.filter { reusable[$0] == nil }
        let hashed = try hashAll(toHash.map { paths[$0] }, jobs: jobs)
        var digests = reusable.map { $0 ?? "" }
        for (i, d) in zip(toHash, hashed) { digests[i] = d }
        let manifest = IntegrityManifest(files: Array(zip(names, digests)).map { (name: $0.0, digest: $0.1) })
        let path = FileSystem.join(directory, fileName)
        do { try writeWholeFile(path, manifest.serialized()) } catch { throw TorchFormatsError.wrap(error, file: path) }
        return manifest
    }

    /// SHA-256 hex digests of files, largest first over `jobs` threads.
    static func hashAll(_ paths: [String], jobs: Int) throws -> [String] {
        var digests = [String](repeating: "", count: paths.count)
        let order = paths.indices.sorted { (FileSystem.fileSize(paths[$0]) ?? 0) > (FileSystem.fileSize(paths[$1]) ?? 0) }
        let lock = NSLock()
        var next = 0
        var firstError: Error?
        digests.withUnsafeMutableBufferPointer { out in
            let out = out
            DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, paths.count))) { _ in
                while true {
                    lock.lock()
                    if firstError != nil || next >= order.count { lock.unlock(); return }
                    let i = order[next]
                    next += 1
                    lock.unlock()
                    do { out[i] = try SHA256.hexDigest(ofFile: paths[i]) } catch {
                        lock.lock()
                        if firstError == nil { firstError = TorchFormatsError.wrap(error, file: paths[i]) }
                        lock.unlock()
                        return
                    }
                }
            }
        }
        if let firstError { throw firstError }
        return digests
    }

    // MARK: Reading

    /// Parses `integrity.json`, checking every name (a bare file name: no `/`, not `.` or `..`) and digest.
    public static func parse(_ bytes: [UInt8], path: String) throws -> IntegrityManifest {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw TorchFormatsError.wrap(error, code: .integrity, file: path) }
        func bad(_ what: String, key: String? = nil) -> TorchFormatsError {
            TorchFormatsError(.integrity, what, file: path, key: key,
                              hint: "integrity.json is damaged: restore the checkpoint, or delete integrity.json to read it unverified")
        }
        guard let members = json.objectMembers else { throw bad("integrity.json is not a JSON object") }
        for (k, _) in members where members.filter({ $0.0 == k }).count > 1 { throw bad("duplicate member", key: k) }
        if let a = json["algorithm"] {
            guard let name = a.stringValue else { throw bad("algorithm is not a string", key: "algorithm") }
            guard name == algorithm else {
                throw TorchFormatsError(.integrity, "unsupported hash algorithm \"\(name)\" (megatron-core writes sha256)",
                                        file: path, key: "algorithm")
            }
        }
        guard let listed = json["files"]?.objectMembers else { throw bad("\"files\" is missing or not an object", key: "files") }
        guard listed.count <= Limits.integrityFiles else {
            throw bad("\(listed.count) files listed, more than the limit \(Limits.integrityFiles)", key: "files")
        }
        var seen = Set<String>()
        var files = [(name: String, digest: String)]()
        for (name, value) in listed {
            guard seen.insert(name).inserted else { throw bad("file listed twice", key: name) }
            guard FileSystem.isContainedRelativePath(name, allowSubfolders: false), name != fileName else {
                throw bad("\"\(name)\" is not a plain file name of the folder", key: name)
            }
            guard let d = value.stringValue, d.utf8.count == 64, d.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw bad("digest is not 64 lowercase hex digits", key: name)
            }
            files.append((name, d))
        }
        return IntegrityManifest(files: files)
    }

    /// Verifies `directory` against its `integrity.json`, when it has one (returns nil when it has none).
    /// Every listed file must exist and hash to its digest, and every data file must be listed.
    @discardableResult
    public static func verifyIfPresent(directory: String, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> IntegrityManifest? {
        guard let manifest = try load(directory: directory) else { return nil }
        try verify(manifest, directory: directory, jobs: jobs)
        return manifest
    }

    /// The parsed `integrity.json` of `directory`, nil when it has none.
    public static func load(directory: String) throws -> IntegrityManifest? {
        let path = FileSystem.join(directory, fileName)
        guard FileSystem.exists(path) else { return nil }
        guard FileSystem.isFile(path) else {
            throw TorchFormatsError(.integrity, "integrity.json is not a regular file", file: path)
        }
        if let size = FileSystem.fileSize(path), size > Limits.integrityManifestBytes {
            throw TorchFormatsError(.integrity, "integrity.json is \(size) bytes, more than the limit \(Limits.integrityManifestBytes)", file: path)
        }
        let manifest: IntegrityManifest
        do { manifest = try parse(try readWholeFile(path), path: path) } catch let e as TorchFormatsError { throw e } catch {
            throw TorchFormatsError.wrap(error, code: .integrity, file: path)
        }
        return manifest
    }

    /// Checks the files of `directory` against `manifest` (see `verifyIfPresent`); throws the first problem.
    public static func verify(_ manifest: IntegrityManifest, directory: String, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        if let first = try problems(manifest, directory: directory, jobs: jobs).first { throw first }
    }

    /// Every way `directory` disagrees with `manifest`: data files not listed, listed files missing, digests
    /// that differ (`check` reports them all; readers stop at the first).
    public static func problems(_ manifest: IntegrityManifest, directory: String,
                                jobs: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> [TorchFormatsError] {
        var found = [TorchFormatsError]()
        let listed = Set(manifest.files.map(\.name))
        for name in try FileSystem.list(directory).sorted() where isDataFile(name) && !listed.contains(name) {
            found.append(TorchFormatsError(.integrity, "\(name) is not listed in integrity.json", file: FileSystem.join(directory, name),
                                           hint: "the manifest does not vouch for this data file: it was added or renamed after the save; "
                                               + "restore the checkpoint, or delete integrity.json to read it unverified"))
        }
        var present = [(name: String, digest: String)]()
        for f in manifest.files {
            let p = FileSystem.join(directory, f.name)
            if FileSystem.isFile(p) { present.append(f); continue }
            found.append(TorchFormatsError(.integrity, "\(f.name) is listed in integrity.json but missing", file: p,
                                           hint: "the checkpoint is incomplete: copy the missing file again from the original"))
        }
        let actual = try hashAll(present.map { FileSystem.join(directory, $0.name) }, jobs: jobs)
        for (f, a) in zip(present, actual) where f.digest != a {
            found.append(TorchFormatsError(.integrity, "SHA-256 of \(f.name) is \(a), integrity.json says \(f.digest)",
                                           file: FileSystem.join(directory, f.name),
                                           hint: "the file changed after it was saved (a damaged disk or an incomplete copy): copy it again from the original"))
        }
        return found
    }
}
