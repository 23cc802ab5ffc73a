import Foundation
import TensorCore

/// One node's part of a split conversion: its share of the data files and every other file, written into
/// `OUT.staging/node-NNNN/` with a manifest, without talking to any other node.
///
/// Every node computes the same plan from the same input and arguments, so each knows, alone, which files
/// are its own (`NodeAssignment`), and the manifests let `finalize` check that they all planned the same
/// conversion. The share appears only when complete (written into a partial folder, renamed into place),
/// so a killed node leaves nothing that looks finished, and its rerun replaces whatever it left.
public enum NodeShareWriter {
    /// What a node did.
    public struct Outcome {
        public var node: NodeIdentity
        /// The data files and bytes this node wrote.
        public var files: Int
        public var bytes: Int
        /// Nodes whose share is finished, this one included.
        public var finishedNodes: Int
        /// Set when this node was the last to finish and finalized the output.
        public var finalized: SplitFinalizer.Report?
        /// Set when all shares were finished but another process (`host pid`) holds the finalize lock.
        public var finalizingElsewhere: String?
    }

    /// Writes node `node.index`'s share of `output` for the output folder `outPath`. With `finalize`, the
    /// last node to finish (decided by `FinalizeLock`) then checks every share and assembles the output.
    public static func write(_ output: ConversionOutput, to outPath: String, node: NodeIdentity, overwrite: Bool,
                             command: [String], executor: WriteExecutor, finalize: Bool) throws -> Outcome {
        let jobs = executor.jobs
        // The output is checked now, as a whole run checks it, not when it is assembled hours later.
        try AtomicOutputDirectory.checkOutput(outPath, overwrite: overwrite, inputs: output.inputs, replaceable: output.conversion.replaceable)
        let staging = StagingArea(output: outPath)
        try AtomicOutputDirectory.checkOutput(staging.path, overwrite: true, inputs: output.inputs, replaceable: .anyFolder)
        try FileSystem.makeDirectory(staging.path)

        let plan = Self.plan(output, nodes: node.count)
        let mine = plan.filter { $0.node == node.index }

        let share = try AtomicOutputDirectory(finalPath: staging.sharePath(node.index), overwrite: true, inputs: output.inputs,
                                              replaceable: .folder("a node share", holdingAnyOf: [NodeManifest.fileName]))
        try output.writeData(Set(mine.map(\.path)), share.tempPath, executor)
        try output.writeRest(share.tempPath)

        let minePaths = Set(mine.map(\.path))
        let otherPaths = try filesBelow(share.tempPath).filter { !minePaths.contains($0) }
        let digests = FileDigest.xxh3((mine.map(\.path) + otherPaths).map { share.path($0) }, jobs: jobs)
        var records = [NodeManifest.FileRecord]()
        for (path, d) in zip(mine.map(\.path) + otherPaths, digests) {
            let (size, hex) = try d.get()
            records.append(NodeManifest.FileRecord(path: path, size: size, xxh3: hex))
        }
        for (p, r) in zip(mine, records) where p.size != r.size {
            throw BridgeError(.cluster, "wrote \(r.size) bytes where the plan has \(p.size)", file: share.path(p.path),
                              hint: "this is a bug in ckpt-bridge; please report it")
        }
        var manifest = NodeManifest(conversion: output.conversion, node: node.index, nodes: node.count, overwrite: overwrite,
                                    inputs: output.inputs.map(FileSystem.resolved), plan: plan,
                                    written: Array(records.prefix(mine.count)), others: Array(records.dropFirst(mine.count)),
                                    command: command, origin: node.origin, host: FinalizeLock.hostName())
        manifest.integrityFolders = output.integrityFolders
        try writeWholeFile(share.path(NodeManifest.fileName), manifest.json())
        try share.commit()

        var outcome = Outcome(node: node, files: mine.count, bytes: mine.reduce(0) { $0 + $1.size },
                              finishedNodes: (0..<node.count).filter { FileSystem.isFile(staging.manifestPath($0)) }.count)
        guard finalize, outcome.finishedNodes == node.count else { return outcome }
        switch try FinalizeLock.acquire(staging) {
        case let .acquired(lock):
            outcome.finalized = try SplitFinalizer.finalize(staging, holding: lock, jobs: jobs, overwrite: false)
        case let .heldBy(holder):
            outcome.finalizingElsewhere = holder
        case .gone:
            outcome.finalizingElsewhere = "another node (already done)"
        }
        return outcome
    }

    /// A whole (not split) run into an output that has a staging area is refused: it is most likely one node
    /// of a split conversion rerun without its node count (`sbatch --array=0` says one node), and would
    /// otherwise write the whole output beside the shares.
    public static func refuseWholeRun(into outPath: String) throws {
        let staging = StagingArea(output: outPath)
        guard FileSystem.isDirectory(staging.path) else { return }
        throw BridgeError(.cluster, "this run is not split over nodes, but the output has the staging area of a split conversion",
                          file: staging.path,
                          hint: "rerunning one node: pass --nodes N (and --node K); converting on one machine instead: remove \(staging.path) first")
    }

    /// Every data file of `output` with the node that writes it.
    public static func plan(_ output: ConversionOutput, nodes: Int) -> [NodeManifest.PlannedFile] {
        let owners = NodeAssignment.assign(sizes: output.dataFiles.map(\.size), nodes: nodes)
        return zip(output.dataFiles, owners).map { NodeManifest.PlannedFile(path: $0.path, size: $0.size, node: $1) }
    }

    /// The relative paths of the regular files below `root`, sorted.
    static func filesBelow(_ root: String) throws -> [String] {
        guard let e = FileManager.default.enumerator(atPath: root) else {
            throw TensorCoreError(.io, "cannot list folder", file: root)
        }
        var out = [String]()
        for case let rel as String in e where FileSystem.isFile(FileSystem.join(root, rel)) { out.append(rel) }
        return out.sorted()
    }
}
