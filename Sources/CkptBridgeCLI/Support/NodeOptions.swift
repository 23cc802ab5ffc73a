import ArgumentParser
import Bridge
import Foundation
import TensorCore

/// `--nodes N --node K`: write only node K's share of a split conversion (see Docs/cluster.md).
struct NodeOptions: ParsableArguments {
    @Option(help: "Split the conversion over N nodes; this process writes one share (default: from Slurm or torchrun variables, else 1).")
    var nodes: Int?
    @Option(help: "This node, 0…N-1 (default: SLURM_ARRAY_TASK_ID, SLURM_PROCID or RANK).")
    var node: Int?
    @Flag(help: "With --nodes: do not finalize even when this node finishes last (leave it to 'ckpt-bridge finalize OUT').")
    var noFinalize = false

    func validate() throws { _ = try identity() }

    /// This process's node, nil when the conversion is not split. Bad flags or variables are usage errors.
    func identity() throws -> NodeIdentity? {
        do {
            return try NodeIdentity.resolve(nodes: nodes, node: node, environment: ProcessInfo.processInfo.environment)
        } catch let e as NodeIdentity.UsageError {
            throw ValidationError(e.description)
        }
    }

    /// Writes `output` at `outDir`: this node's share when the run is split (reported here), else the whole
    /// output with progress over `total` bytes. Returns false when only a share was written (the caller's
    /// summary speaks of a whole output), true when the whole output is in place.
    func write(_ output: ConversionOutput, to outDir: String, total: Int, running: RunOptions) throws -> Bool {
        if try writeShare(output, to: outDir, running: running) { return false }
        let (executor, reporter) = running.executor(total: total)
        try output.write(to: outDir, overwrite: running.overwrite, executor: executor)
        reporter?.finish()
        return true
    }

    /// Writes this node's share of `output` and reports it; a single (not split) run writes the whole output.
    /// Returns false when the run was not split (the caller writes and reports as usual).
    private func writeShare(_ output: ConversionOutput, to outDir: String, running: RunOptions) throws -> Bool {
        guard let id = try identity() else {
            try NodeShareWriter.refuseWholeRun(into: outDir)
            return false
        }
        let share = NodeShareWriter.plan(output, nodes: id.count).filter { $0.node == id.index }
        let (executor, reporter) = running.executor(total: share.reduce(0) { $0 + $1.size })
        let start = Date()
        let done = try NodeShareWriter.write(output, to: outDir, node: id, overwrite: running.overwrite, command: CommandLine.arguments,
                                             executor: executor, finalize: !noFinalize)
        reporter?.finish()
        let staging = StagingArea(output: outDir)
        print("\(id): wrote \(done.files) of \(output.dataFiles.count) data files, \(ByteCount.format(done.bytes)) of " +
              "\(ByteCount.format(output.dataBytes)) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s → \(staging.sharePath(id.index)) " +
              "(\(done.finishedNodes) of \(id.count) nodes finished)")
        if let r = done.finalized {
            print("finalized \(outDir): \(r.files) data files, \(ByteCount.format(r.bytes)) from \(id.count) nodes, every size and checksum checked")
        } else if let other = done.finalizingElsewhere {
            print("all nodes finished; \(other) is finalizing \(outDir)")
        } else if noFinalize || done.finishedNodes < id.count {
            print("to assemble \(outDir): ckpt-bridge finalize \(outDir)\(noFinalize ? "" : " (or the last node to finish does it)")")
        }
        return true
    }
}

/// `plan … --nodes N`: also show how a split over N nodes would share the data files (nothing is written).
struct SplitPreviewOption: ParsableArguments {
    @Option(help: "Also show how a split over N nodes would share the data files (Docs/cluster.md).")
    var nodes: Int?

    func validate() throws {
        if let nodes, nodes < 1 || nodes > NodeIdentity.maxCount {
            throw ValidationError("--nodes must be between 1 and \(NodeIdentity.maxCount), not \(nodes)")
        }
    }
}
