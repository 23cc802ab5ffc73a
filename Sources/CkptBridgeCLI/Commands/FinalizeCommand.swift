import ArgumentParser
import Bridge
import Foundation
import TensorCore

struct FinalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finalize",
        abstract: "Assemble a conversion split over nodes (import/export --nodes N --node K) from its staging area.",
        discussion: """
        Each node of a split conversion writes its share into OUT.staging/node-NNNN/ with a manifest. \
        finalize checks that every node finished and planned the same conversion, that every planned file \
        is there with the planned size and the checksum its node recorded (every file is read and hashed \
        again), then puts the files into OUT (hard links, no copy), writes the rest (.metadata, common.pt, \
        metadata.json, run_config.yaml, hf_config/, the tracker; or config.json and the index) from one \
        verified copy, renames OUT into place and removes the staging area. The last node to finish does \
        this itself unless it was run with --no-finalize; finalize on an output that is already in place \
        says so and exits 0.

        A missing, unfinished or damaged share names the node: rerun that node only (same command, same \
        --nodes, its --node), then finalize again.

        Examples:
          ckpt-bridge finalize ./megatron
          ckpt-bridge finalize ./megatron --check --json      what is missing, without changing anything
          sbatch --dependency=afterok:$ARRAY_JOB --wrap 'ckpt-bridge finalize ./megatron'
        """
    )

    @Argument(help: "The output folder the nodes wrote shares for (its staging area is OUT.staging).", completion: .directory)
    var outDir: String
    @Flag(help: "Only check the staging area and report what is missing (exit 0 when complete).")
    var check = false
    @Flag(help: "Replace OUT if it exists (also when every node was run with --overwrite).")
    var overwrite = false
    @Flag(help: "Print JSON.")
    var json = false
    @OptionGroup var jobs: JobsOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let staging = StagingArea(output: outDir)
            if check {
                let r = SplitFinalizer.check(staging, jobs: jobs.count)
                if json { print(JSONWriter.write(Self.json(r, status: r.problems.isEmpty ? "complete" : "incomplete"))) }
                else if r.problems.isEmpty { print("complete: \(r.files) data files, \(ByteCount.format(r.bytes)) from \(r.nodes ?? 0) nodes, every size and checksum checked") }
                if let e = r.error { throw e }
                return
            }
            let start = Date()
            let outcome: SplitFinalizer.Outcome
            do {
                outcome = try SplitFinalizer.finalize(output: outDir, jobs: jobs.count, overwrite: overwrite)
            } catch let e as BridgeError where e.code == .cluster && json {
                print(JSONWriter.write(Self.json(SplitFinalizer.check(staging, jobs: jobs.count), status: "incomplete")))
                throw e
            }
            switch outcome {
            case let .finalized(r):
                if json { print(JSONWriter.write(Self.json(r, status: "finalized"))) } else {
                    print("finalized \(outDir): \(r.files) data files, \(ByteCount.format(r.bytes)) from \(r.nodes ?? 0) nodes, every size and checksum checked " +
                          "(\(String(format: "%.2f", Date().timeIntervalSince(start))) s)")
                }
            case .alreadyFinalized:
                if json { print(JSONWriter.write(.object([("status", .string("already finalized")), ("output", .string(outDir))]))) }
                else { print("already finalized: \(outDir) is in place and \(staging.path) is gone") }
            case let .finalizingElsewhere(holder):
                throw BridgeError(.cluster, "another process (\(holder)) is finalizing", file: staging.lockPath,
                                  hint: "wait for it; if it died on another host, remove \(staging.lockPath) and run finalize again")
            }
        }
    }

    static func json(_ r: SplitFinalizer.Report, status: String) -> JSONValue {
        .object([
            ("status", .string(status)), ("output", .string(r.output)), ("staging", .string(r.staging)),
            ("nodes", r.nodes.map { .int($0) } ?? .null), ("files", .int(r.files)), ("bytes", .int(r.bytes)),
            ("rerun", .array(r.nodesToRerun.map { .int($0) })),
            ("problems", .array(r.problems.map { .object([("node", .int($0.node)), ("message", .string($0.message)), ("remove", .bool($0.remove))]) })),
        ])
    }
}
