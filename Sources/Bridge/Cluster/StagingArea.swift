import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// The folder where the nodes of a split conversion leave their shares: `OUT.staging/`, beside the output
/// (so the finished files are renamed, never copied, into the output).
///
///     OUT.staging/node-0000/             node 0's finished share: its data files at their output paths, the
///     OUT.staging/node-0000/node.json    other files, and its manifest (written last: a share without it is unfinished)
///     OUT.staging/.node-0001.partial-…   a share being written (or left by a killed run; the rerun removes it)
///     OUT.staging/finalize.lock          held by the one process finalizing (created with O_EXCL)
public struct StagingArea: Sendable {
    /// The output folder the shares are for.
    public let output: String
    /// `OUT.staging`.
    public let path: String

    public init(output: String) {
        var o = output
        while o.count > 1 && o.hasSuffix("/") { o.removeLast() }
        self.output = o
        path = o + ".staging"
    }

    /// `node-0003`: the folder name of a node's finished share.
    public static func shareName(_ node: Int) -> String {
        let s = String(node)
        return "node-" + String(repeating: "0", count: Swift.max(0, 4 - s.count)) + s
    }

    /// The node a share folder name stands for, nil for other names.
    static func node(ofShareName name: String) -> Int? {
        guard name.hasPrefix("node-"), name.count >= 9 else { return nil }
        let digits = name.dropFirst(5)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits), shareName(n) == name else { return nil }
        return n
    }

    public func sharePath(_ node: Int) -> String { FileSystem.join(path, Self.shareName(node)) }
    public func manifestPath(_ node: Int) -> String { FileSystem.join(sharePath(node), NodeManifest.fileName) }
    public var lockPath: String { FileSystem.join(path, "finalize.lock") }

    /// The finished share folders present, by node.
    func shares() -> [Int: String] {
        var out = [Int: String]()
        for name in (try? FileSystem.list(path)) ?? [] {
            if let n = Self.node(ofShareName: name), FileSystem.isDirectory(FileSystem.join(path, name)) { out[n] = FileSystem.join(path, name) }
        }
        return out
    }

    /// Whether a partial share of `node` is present (a node still writing, or killed).
    func hasPartial(of node: Int) -> Bool {
        let prefix = ".\(Self.shareName(node)).partial-"
        return ((try? FileSystem.list(path)) ?? []).contains { $0.hasPrefix(prefix) }
    }

    /// Whether every node 0 ..< count has a finished share with a manifest.
    func allSharesFinished(count: Int) -> Bool {
        (0..<count).allSatisfy { FileSystem.isFile(manifestPath($0)) }
    }
}

/// The right to finalize a staging area, held by exactly one process: `finalize.lock` created with
/// O_CREAT|O_EXCL (atomic on local file systems and NFSv3+), holding `host pid`. A lock left by a dead
/// process on this host is taken over; one from another host is reported, never broken.
final class FinalizeLock {
    let path: String
    private var held = true

    private init(path: String) { self.path = path }

    enum Outcome {
        case acquired(FinalizeLock)
        /// Another process holds it: its `host pid`.
        case heldBy(String)
        /// The staging area is gone: another process finalized it.
        case gone
    }

    static func acquire(_ staging: StagingArea) throws -> Outcome {
        let path = staging.lockPath
        let me = "\(hostName()) \(ProcessInfo.processInfo.processIdentifier)"
        for attempt in 0..<2 {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                let bytes = Array((me + "\n").utf8)
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                _ = fsync(fd)
                close(fd)
                return .acquired(FinalizeLock(path: path))
            }
            let code = errno
            if code == ENOENT && !FileSystem.isDirectory(staging.path) { return .gone }
            guard code == EEXIST else {
                throw TensorCoreError.systemCall("open", "cannot create the finalize lock", file: path, errno: code)
            }
            let holder = (try? readWholeFile(path)).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            let fields = holder.split(separator: " ")
            if attempt == 0, fields.count == 2, String(fields[0]) == hostName(), let pid = Int32(fields[1]), !FileSystem.processIsAlive(pid) {
                FileSystem.remove(path)  // its finalizer died; the lock is ours to take
                continue
            }
            return .heldBy(holder.isEmpty ? "unknown" : holder)
        }
        return .heldBy("unknown")
    }

    func release() {
        if held { FileSystem.remove(path); held = false }
    }

    deinit { release() }

    static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        return String(cString: buf)
    }
}
