import Foundation

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

    public static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw TensorCoreError(.io, "cannot create folder", file: path, underlying: error)
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

    /// Prepares a temporary folder for `finalPath`. Fails up front when `finalPath` exists and
    /// `overwrite` is false, so nothing is written for a request that cannot succeed.
    public init(finalPath: String, overwrite: Bool) throws {
        self.finalPath = finalPath
        self.overwrite = overwrite
        if FileSystem.exists(finalPath) && !overwrite {
            throw TensorCoreError(.io, "output already exists", file: finalPath,
                                  hint: "choose a new output path or pass --overwrite")
        }
        let parent = FileSystem.dirname(finalPath)
        if !FileSystem.isDirectory(parent) {
            try FileSystem.makeDirectory(parent)
        }
        let tag = "\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        tempPath = FileSystem.join(parent, ".\(FileSystem.basename(finalPath)).partial-\(tag)")
        try FileSystem.makeDirectory(tempPath)
    }

    deinit {
        if !committed { FileSystem.remove(tempPath) }
    }

    /// A path inside the temporary folder.
    public func path(_ relative: String) -> String { FileSystem.join(tempPath, relative) }

    /// Renames the finished folder into place.
    public func commit() throws {
        precondition(!committed, "committed twice")
        var aside: String?
        if FileSystem.exists(finalPath) {
            guard overwrite else {
                throw TensorCoreError(.io, "output appeared while writing", file: finalPath, hint: "pass --overwrite")
            }
            let old = tempPath + ".old"
            guard rename(finalPath, old) == 0 else {
                throw TensorCoreError(.io, "cannot move the existing output aside: \(String(cString: strerror(errno)))", file: finalPath)
            }
            aside = old
        }
        guard rename(tempPath, finalPath) == 0 else {
            let e = String(cString: strerror(errno))
            if let aside { _ = rename(aside, finalPath) }
            throw TensorCoreError(.io, "cannot rename the finished output into place: \(e)", file: finalPath)
        }
        committed = true
        if let aside { FileSystem.remove(aside) }
    }
}
