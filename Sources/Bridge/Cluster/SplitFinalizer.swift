import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// Assembles a split conversion: checks that every node's share is there, planned the same conversion and
/// holds every planned file with the planned size and the checksum its node recorded (each file is hashed
/// again), then links the files into an atomic output folder, renames it into place and retires the
/// staging area. What is missing or damaged is reported by node, so rerunning those nodes is enough.
public enum SplitFinalizer {
    /// One thing wrong with a staging area, and the node whose rerun fixes it.
    public struct Problem: Equatable, Sendable {
        public var node: Int
        public var message: String
        /// True when the share does not belong to the plan at all and should be removed, not rerun.
        public var remove = false
    }

    /// What `check` found.
    public struct Report {
        public var output: String
        public var staging: String
        /// The node count of the plan (nil when no share could be read).
        public var nodes: Int?
        public var problems: [Problem]
        /// The data files and their bytes.
        public var files = 0
        public var bytes = 0
        /// The reference manifest (the plan most nodes agree on).
        public var plan: NodeManifest?
        /// Every file of the output: where it lies in the staging area, and its relative path.
        var sources = [(from: String, to: String)]()
        var manifests = [NodeManifest]()

        /// The nodes to rerun, ascending.
        public var nodesToRerun: [Int] { Array(Set(problems.filter { !$0.remove }.map(\.node))).sorted() }

        /// The error that names the nodes to rerun (nil when complete).
        public var error: BridgeError? {
            guard !problems.isEmpty else { return nil }
            let details = problems.map { "node \($0.node): \($0.message)" }.joined(separator: "; ")
            let rerun = nodesToRerun
            let head = rerun.isEmpty ? "the staging area holds shares of another plan" : "the split output is not complete: rerun \(Self.list(rerun))"
            return BridgeError(.cluster, "\(head) (\(details))", file: staging, hint: rerunHint)
        }

        /// How to fix it: the command to rerun, then finalize.
        public var rerunHint: String {
            var parts = [String]()
            let rerun = nodesToRerun
            if !rerun.isEmpty {
                var s = "rerun only \(Self.list(rerun)), with the same input and arguments as the others"
                if let p = plan, !p.command.isEmpty {
                    // Flags win over the environment, so this line reruns the node anywhere that sees the folder.
                    s += ", e.g. " + rerun.map { Self.shellLine(Self.settingNode(p.command, nodes: p.nodes, node: $0)) }.joined(separator: " and ")
                    if p.origin.contains("SLURM_ARRAY") {
                        s += " (or resubmit the job script with sbatch --array=\(rerun.map(String.init).joined(separator: ",")) if it passes --nodes \(p.nodes))"
                    }
                }
                parts.append(s)
            }
            for p in problems where p.remove { parts.append("remove \(FileSystem.join(staging, StagingArea.shareName(p.node)))") }
            parts.append("then run ckpt-bridge finalize \(output) (the last node to finish also does)")
            return parts.joined(separator: "; ")
        }

        static func list(_ nodes: [Int]) -> String { (nodes.count == 1 ? "node " : "nodes ") + nodes.map(String.init).joined(separator: ", ") }

        /// `command` with `--nodes nodes --node node`, replacing any node flags it had.
        static func settingNode(_ command: [String], nodes: Int, node: Int) -> [String] {
            var c = [String]()
            var i = 0
            while i < command.count {
                let a = command[i]
                if a == "--node" || a == "--nodes" { i += 2; continue }
                if a.hasPrefix("--node=") || a.hasPrefix("--nodes=") { i += 1; continue }
                c.append(a)
                i += 1
            }
            return c + ["--nodes", String(nodes), "--node", String(node)]
        }

        static func shellLine(_ args: [String]) -> String {
            args.map { a in
                a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }) && !a.isEmpty ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
            }.joined(separator: " ")
        }
    }

    /// Checks the staging area of `staging.output` without changing anything.
    public static func check(_ staging: StagingArea, jobs: Int) -> Report {
        var report = Report(output: staging.output, staging: staging.path, nodes: nil, problems: [])
        var valid = [Int: NodeManifest]()
        let shares = staging.shares()
        for (node, path) in shares.sorted(by: { $0.key < $1.key }) {
            let mpath = FileSystem.join(path, NodeManifest.fileName)
            guard FileSystem.isFile(mpath) else {
                report.problems.append(Problem(node: node, message: "its share has no manifest"))
                continue
            }
            do {
                let m = try NodeManifest.read(mpath)
                guard m.node == node else {
                    report.problems.append(Problem(node: node, message: "its share holds node \(m.node)'s manifest"))
                    continue
                }
                valid[node] = m
            } catch {
                report.problems.append(Problem(node: node, message: (error as? DiagnosticError)?.summary ?? "\(error)"))
            }
        }
        // The plan most shares agree on (the lowest node's among equals) is the reference.
        var votes = [String: [Int]]()
        for (n, m) in valid { votes[m.fingerprint, default: []].append(n) }
        guard let best = votes.max(by: { a, b in a.value.count != b.value.count ? a.value.count < b.value.count : a.value.min()! > b.value.min()! }) else {
            if report.problems.isEmpty {
                report.problems.append(Problem(node: 0, message: "no node has finished (\(FileSystem.isDirectory(staging.path) ? "the staging area holds no share" : "there is no staging area \(staging.path)"))"))
            }
            return report
        }
        let ref = valid[best.value.min()!]!
        report.plan = ref
        report.nodes = ref.nodes
        for (n, m) in valid.sorted(by: { $0.key < $1.key }) where m.fingerprint != best.key {
            valid[n] = nil
            if n >= ref.nodes {
                report.problems.append(Problem(node: n, message: "is not one of the \(ref.nodes) nodes of this plan", remove: true))
            } else {
                let what = m.nodes != ref.nodes ? "with \(m.nodes) nodes, not \(ref.nodes)" : "with another input or other arguments"
                report.problems.append(Problem(node: n, message: "planned a different conversion than node \(ref.node) (\(what))"))
            }
        }
        for n in 0..<ref.nodes where valid[n] == nil && !report.problems.contains(where: { $0.node == n }) {
            report.problems.append(Problem(node: n, message: staging.hasPartial(of: n)
                ? "has not finished (its partial share is there: it is still running, or was killed)" : "has not finished (no share)"))
        }
        // Data files: present, regular, the planned size, and the checksum the node recorded.
        var toHash = [(node: Int, path: String, record: NodeManifest.FileRecord)]()
        for (n, m) in valid.sorted(by: { $0.key < $1.key }) {
            for r in m.written {
                let path = FileSystem.join(staging.sharePath(n), r.path)
                if let p = fileProblem(path, size: r.size) {
                    report.problems.append(Problem(node: n, message: "\(r.path) \(p)"))
                } else {
                    toHash.append((n, path, r))
                }
            }
        }
        for (item, d) in zip(toHash, FileDigest.xxh3(toHash.map(\.path), jobs: jobs)) {
            switch d {
            case let .success(got) where got.hex == item.record.xxh3 && got.size == item.record.size:
                report.sources.append((item.path, item.record.path))
            case .success:
                report.problems.append(Problem(node: item.node, message: "\(item.record.path) is damaged (its checksum differs from the one its node recorded)"))
            case let .failure(e):
                report.problems.append(Problem(node: item.node, message: "\(item.record.path) cannot be read (\((e as? DiagnosticError)?.summary ?? "\(e)"))"))
            }
        }
        // The other files: every node wrote the same ones (the fingerprint says so); use the first intact copy.
        var othersFound = false
        for (n, m) in valid.sorted(by: { $0.key < $1.key }) {
            let paths = m.others.map { FileSystem.join(staging.sharePath(n), $0.path) }
            let intact = zip(m.others, paths).allSatisfy { r, p in
                fileProblem(p, size: r.size) == nil && ((try? FileDigest.xxh3(p))?.hex == r.xxh3)
            }
            if intact {
                report.sources.append(contentsOf: zip(paths, m.others.map(\.path)).map { ($0, $1) })
                othersFound = true
                break
            }
        }
        if !othersFound, !valid.isEmpty {
            let n = valid.keys.min()!
            report.problems.append(Problem(node: n, message: "no share holds an intact copy of the other files (configs, metadata, index)"))
        }
        report.files = ref.plan.count
        report.bytes = ref.plan.reduce(0) { $0 + $1.size }
        report.manifests = valid.sorted(by: { $0.key < $1.key }).map(\.value)
        return report
    }

    /// Why a file a node should have written is not usable, nil when it is a regular file of `size` bytes.
    static func fileProblem(_ path: String, size: Int) -> String? {
        if FileSystem.isSymbolicLink(path) { return "is a symbolic link" }
        guard FileSystem.exists(path) else { return "is missing" }
        guard FileSystem.isFile(path), let got = FileSystem.fileSize(path) else { return "is not a plain file" }
        return got == size ? nil : "has \(got) bytes where the plan has \(size)"
    }

    /// What `finalize(output:)` did.
    public enum Outcome {
        case finalized(Report)
        /// There is no staging area and the output exists: finalized before (by the last node, or an earlier run).
        case alreadyFinalized
        /// Another process (`host pid`) is finalizing.
        case finalizingElsewhere(String)
    }

    /// `ckpt-bridge finalize OUT`: takes the finalize lock and assembles the output.
    public static func finalize(output: String, jobs: Int, overwrite: Bool) throws -> Outcome {
        let staging = StagingArea(output: output)
        guard FileSystem.isDirectory(staging.path) else {
            if FileSystem.isDirectory(output) { return .alreadyFinalized }
            throw BridgeError(.cluster, "no staging area to finalize", file: staging.path,
                              hint: "run the nodes first (import/export … --nodes N --node K write into \(staging.path))")
        }
        switch try FinalizeLock.acquire(staging) {
        case let .acquired(lock): return .finalized(try finalize(staging, holding: lock, jobs: jobs, overwrite: overwrite))
        case let .heldBy(holder): return .finalizingElsewhere(holder)
        case .gone: return FileSystem.isDirectory(output) ? .alreadyFinalized : .finalizingElsewhere("unknown")
        }
    }

    /// Checks and assembles, holding the lock; the lock is released on failure (so a rerun node can finalize).
    static func finalize(_ staging: StagingArea, holding lock: FinalizeLock, jobs: Int, overwrite: Bool) throws -> Report {
        defer { lock.release() }
        let report = check(staging, jobs: jobs)
        if let e = report.error { throw e }
        guard let plan = report.plan else { throw BridgeError(.cluster, "no plan found", file: staging.path) }
        let out = try AtomicOutputDirectory(finalPath: staging.output, overwrite: overwrite || report.manifests.allSatisfy(\.overwrite),
                                            inputs: plan.inputs, replaceable: plan.conversion.replaceable)
        for (from, to) in report.sources {
            let dest = out.path(to)
            try FileSystem.makeDirectory(FileSystem.dirname(dest))
            // A hard link keeps the share intact until the output is in place (a failed finalize loses nothing);
            // where the file system has no hard links, the file is moved.
            if link(from, dest) != 0 {
                let code = errno
                guard code == EPERM || code == ENOTSUP || code == EXDEV || code == EMLINK, rename(from, dest) == 0 else {
                    throw TensorCoreError.systemCall("link", "cannot place a node's file into the output", file: from, errno: code)
                }
            }
        }
        // The manifest needs every node's files, so it is written here, over the assembled folder.
        try ConversionOutput.writeIntegrityManifests(plan.integrityFolders, root: out.tempPath, jobs: jobs)
        try out.commit()
        // Retire the staging area in one rename (so a late node sees it gone, not half removed), then delete it.
        let tag = "\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        let retired = FileSystem.join(FileSystem.dirname(staging.path), ".\(FileSystem.basename(staging.path)).partial-\(tag)")
        if rename(staging.path, retired) == 0 {
            lock.release()
            FileSystem.remove(retired)
        }
        return report
    }
}
