import CSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small file-system helpers with errors that name the path.
public enum FileSystem {
    /// Whether a path read from a file (an index's shard name, a DCP storage path) stays inside its folder:
    /// relative, no `..`, `.` or empty components, no backslashes or NULs. With `allowSubfolders` false it
    /// must also be a plain file name.
    public static func isContainedRelativePath(_ s: String, allowSubfolders: Bool = true) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        return !s.isEmpty && !s.contains("\\") && !s.contains("\0") && (allowSubfolders || parts.count == 1)
            && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    public static func isSymbolicLink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    /// The absolute path with symbolic links resolved; for a path that does not exist yet, its deepest
    /// existing ancestor resolved and the rest appended.
    public static func resolved(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : join(FileManager.default.currentDirectoryPath, path)
        var head = absolute, tail = [String]()
        while true {
            if let r = realpath(head, nil) {
                defer { free(r) }
                return join([String(cString: r)] + tail.reversed())
            }
            if head == "/" || head.isEmpty { return absolute }
            let name = basename(head)
            if name != "." { tail.append(name) }
            head = dirname(head)
        }
    }

    /// Whether resolved path `a` lies strictly inside resolved path `b`.
    public static func isInside(_ a: String, _ b: String) -> Bool {
        let base = b.hasSuffix("/") ? b : b + "/"
        return a.hasPrefix(base) && a != b
    }

    /// Whether a process with this id exists (kill(pid, 0) does not fail with ESRCH).
    public static func processIsAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    /// fsync of a folder (its entries), best effort: some file systems refuse fsync on folders.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// fsync of every file and folder below `path` (the finished output, before it is renamed into place).
    public static func syncTree(_ path: String) throws {
        guard let e = FileManager.default.enumerator(atPath: path) else { return }
        for case let rel as String in e {
            let p = join(path, rel)
            if isDirectory(p) { syncDirectory(p); continue }
            let fd = open(p, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw TensorCoreError.systemCall("open", "cannot open a finished file to flush it", file: p) }
            defer { close(fd) }
            if fsync(fd) != 0 { throw TensorCoreError.systemCall("fsync", "cannot flush a finished file to disk", file: p) }
        }
        syncDirectory(path)
    }

    public static func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    public static func isFile(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && !dir.boolValue
    }

    /// The names in a folder, sorted.
    public static func list(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        } catch {
            throw TensorCoreError(.io, "cannot list folder", file: path, hint: "check that the folder exists", underlying: error)
        }
    }

    /// `mkdir -p`, with the failing call's errno in the error.
    public static func makeDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        if exists(path) {
            throw TensorCoreError(.io, "cannot create folder: \(path) exists and is not a directory", file: path,
                                  hint: "a component of the path is a file, not a folder")
        }
        let parent = dirname(path)
        if parent != path && !isDirectory(parent) {
            if exists(parent) {
                throw TensorCoreError(.io, "cannot create folder: \(parent) exists and is not a directory", file: path,
                                      hint: "a component of the path is a file, not a folder")
            }
            try makeDirectory(parent)
        }
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if !(code == EEXIST && isDirectory(path)) {
                throw TensorCoreError.systemCall("mkdir", "cannot create folder", file: path, errno: code)
            }
        }
    }

    public static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    public static func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
    }

    /// `a/b` joined without doubling slashes.
    public static func join(_ parts: String...) -> String { join(parts) }

    public static func join(_ parts: [String]) -> String {
        var out = ""
        for p in parts where !p.isEmpty {
            if out.isEmpty { out = p } else if out.hasSuffix("/") { out += p } else { out += "/" + p }
        }
        return out
    }

    public static func basename(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p.split(separator: "/").last.map(String.init) ?? p
    }

    public static func dirname(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let i = p.lastIndex(of: "/") else { return "." }
        return i == p.startIndex ? "/" : String(p[..<i])
    }

    public static func copyFile(_ from: String, _ to: String) throws {
        do {
            if exists(to) { try FileManager.default.removeItem(atPath: to) }
            try FileManager.default.copyItem(atPath: from, toPath: to)
        } catch {
            throw TensorCoreError(.io, "cannot copy file to \(to)", file: from, underlying: error)
        }
    }
}

/// An output folder that appears at its final path only when complete.
///
/// Everything is written into a hidden temporary sibling; `commit()` renames it into place (after
/// optionally moving aside an existing folder when overwriting). If the object is dropped without a
/// commit, or the process dies, only the hidden temporary folder remains, never something that looks
/// like a valid checkpoint.
public final class AtomicOutputDirectory {
    public let finalPath: String
    public let tempPath: String
    public let overwrite: Bool
    private var committed = false

    /// What an output may replace with `--overwrite`: a description for errors ("a Megatron checkpoint") and
    /// a test that a folder is recognisably one.
    public struct Replaceable: Sendable {
        public var kind: String
        public var matches: @Sendable (String) -> Bool

        public init(kind: String, matches: @escaping @Sendable (String) -> Bool) {
            self.kind = kind
            self.matches = matches
        }

        /// A folder holding any of `markers` (file or folder names).
        public static func folder(_ kind: String, holdingAnyOf markers: [String]) -> Replaceable {
            Replaceable(kind: kind) { path in markers.contains { FileSystem.exists(FileSystem.join(path, $0)) } }
        }

        /// Any folder (for callers without a notion of checkpoint kind).
        public static let anyFolder = Replaceable(kind: "folder") { FileSystem.isDirectory($0) }
    }

    /// Prepares a temporary folder for `finalPath`, after every check that can fail up front, so nothing is
    /// written for a request that cannot succeed:
    /// - the output may not be, contain, or lie inside any of `inputs` (symbolic links resolved), with or
    ///   without `overwrite`;
    /// - an existing output is an error unless `overwrite`, and then it must be a folder `replaceable`
    ///   recognises (never a plain file or an unrelated folder);
    /// - partial folders that dead runs left for the same output are removed.
    public init(finalPath: String, overwrite: Bool, inputs: [String] = [], replaceable: Replaceable = .anyFolder) throws {
        self.finalPath = finalPath
        self.overwrite = overwrite
        try Self.checkOutput(finalPath, overwrite: overwrite, inputs: inputs, replaceable: replaceable)
        let parent = FileSystem.dirname(finalPath)
        try FileSystem.makeDirectory(parent)
        Self.removeStalePartials(of: finalPath)
        let tag = "\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        tempPath = FileSystem.join(parent, "\(Self.partialPrefix(of: finalPath))\(tag)")
        try FileSystem.makeDirectory(tempPath)
    }

    /// The checks `init` makes before creating anything, for callers that write elsewhere first (a node of a
    /// split conversion checks the final output up front, hours before it is assembled).
    public static func checkOutput(_ finalPath: String, overwrite: Bool, inputs: [String], replaceable: Replaceable) throws {
        let out = FileSystem.resolved(finalPath)
        for input in inputs {
            let inp = FileSystem.resolved(input)
            let problem: String? = out == inp ? "is the input"
                : FileSystem.isInside(out, inp) ? "lies inside the input \(input)"
                : FileSystem.isInside(inp, out) ? "contains the input \(input)" : nil
            if let problem {
                throw TensorCoreError(.io, "the output \(problem)", file: finalPath,
                                      hint: "write the output next to the input, never onto, into or around it (--overwrite does not change this)")
            }
        }
        if FileSystem.exists(finalPath) || FileSystem.isSymbolicLink(finalPath) {
            guard overwrite else {
                throw TensorCoreError(.io, "output already exists", file: finalPath,
                                      hint: "choose a new output path or pass --overwrite")
            }
            guard FileSystem.isDirectory(finalPath), replaceable.matches(finalPath) else {
                throw TensorCoreError(.io, "--overwrite replaces only \(replaceable.kind), and this is \(FileSystem.isDirectory(finalPath) ? "a folder that is not one" : "not a folder")",
                                      file: finalPath, hint: "remove it yourself if it should go, or choose another output path")
            }
        }
    }

    /// `.NAME.partial-`: what the temporary folders of `finalPath` are called, followed by `PID-RANDOM`.
    static func partialPrefix(of finalPath: String) -> String { ".\(FileSystem.basename(finalPath)).partial-" }

    /// The partial folders in `parent` whose writing process is gone (a killed or crashed run). A folder whose process is alive is another run in progress and is left alone.
    public static func stalePartials(in parent: String) -> [String] {
        guard let names = try? FileSystem.list(parent) else { return [] }
        return names.compactMap { name -> String? in
            guard name.hasPrefix("."), let r = name.range(of: ".partial-") else { return nil }
            var rest = name[r.upperBound...]
            if rest.hasSuffix(".old") { rest = rest.dropLast(4) }
            let fields = rest.split(separator: "-")
            guard fields.count == 2, let pid = Int32(fields[0]), pid > 0, UInt32(fields[1]) != nil else { return nil }
            return FileSystem.processIsAlive(pid) ? nil : FileSystem.join(parent, name)
        }
    }

    private static func removeStalePartials(of finalPath: String) {
        let prefix = partialPrefix(of: finalPath)
        for p in stalePartials(in: FileSystem.dirname(finalPath)) where FileSystem.basename(p).hasPrefix(prefix) {
            FileSystem.remove(p)
        }
    }

    deinit {
        if !committed { FileSystem.remove(tempPath) }
    }

    /// A path inside the temporary folder.
    public func path(_ relative: String) -> String { FileSystem.join(tempPath, relative) }

    /// Renames the finished folder into place. An existing output (with `overwrite`) is exchanged with the
    /// new one in one atomic step where the kernel can (Linux `renameat2(RENAME_EXCHANGE)`), so at every
    /// instant the final path holds either the old output or the new one; elsewhere the old one is moved
    /// aside first.
    public func commit() throws {
        precondition(!committed, "committed twice")
        try FileSystem.syncTree(tempPath)
        FaultInjection.at(commitStep: "synced")
        var old: String?
        if FileSystem.exists(finalPath) {
            guard overwrite else {
                throw TensorCoreError(.io, "output appeared while writing", file: finalPath, hint: "pass --overwrite")
            }
            if Self.exchange(tempPath, finalPath) {
                // tempPath now holds the old output.
                committed = true
                FaultInjection.at(commitStep: "renamed")
                FileSystem.syncDirectory(FileSystem.dirname(finalPath))
                FileSystem.remove(tempPath)
                return
            }
            let aside = tempPath + ".old"
            guard rename(finalPath, aside) == 0 else {
                throw TensorCoreError.systemCall("rename", "cannot move the existing output aside", file: finalPath)
            }
            old = aside
            FaultInjection.at(commitStep: "aside")
        }
        guard rename(tempPath, finalPath) == 0 else {
            let e = TensorCoreError.systemCall("rename", "cannot rename the finished output into place", file: finalPath)
            if let old { _ = rename(old, finalPath) }
            throw e
        }
        committed = true
        FaultInjection.at(commitStep: "renamed")
        // The rename is durable only once the parent folder's entry is on disk.
        FileSystem.syncDirectory(FileSystem.dirname(finalPath))
        if let old { FileSystem.remove(old) }
    }

    /// Swaps two paths atomically; false where the system cannot (then nothing changed).
    private static func exchange(_ a: String, _ b: String) -> Bool {
        // renameat2(2) with RENAME_EXCHANGE (Linux 3.15+); other systems and file systems refuse it.
        ckpt_rename_exchange(a, b) == 0
    }
}
