import ArgumentParser
import Bridge
import Foundation
import TensorCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a whole checkpoint without converting it: structure, checksums, chunk coverage, config.",
        discussion: """
        Reads every byte once and runs every check, so one problem does not hide the next; each check lists \
        every problem it finds (up to 100), with the file, key and byte offset a conversion would stop at.

        Megatron torch_dist: the folder's structure (tracker, .metadata, metadata.json, common.pt, \
        run_config.yaml, each stored item inside its data file, no two items sharing bytes, no stray \
        .distcp); integrity.json (megatron-core's SHA-256 manifest) when present; every global tensor tiled \
        by its chunks with no gap or overlap; the CRC-32 of every zip entry; and the config against the \
        mapping table (the export plan: every stored tensor used, every HF tensor filled with the config's shape).
        Legacy (mp_rank_*): rank folders, integrity.json when present, every rank file and its CRC-32s, config.
        HF safetensors: every header (byte ranges inside and tiling the data section), the index against \
        the shards, stray shards, and config.json against the mapping table (the import plan).

        Exit status: 0 every check passed; 2 a problem was found (the report lists all of them, then one \
        'error:' line names the first) or the path is not a checkpoint.

        Examples:
          ckpt-bridge check ./megatron                          a torch_dist or legacy root, or one iteration folder
          ckpt-bridge check ./Qwen3-VL-8B-Instruct
          ckpt-bridge check ./megatron/iter_0001000 --hf-config ./Qwen3-VL-8B-Instruct
          ckpt-bridge check ./training-run --iteration 2000      (not the one the tracker names)
          ckpt-bridge check ./megatron --json | jq '.checks[] | select(.ok | not)'
          ckpt-bridge check ./megatron && rsync -a ./megatron remote:ckpts/    copy only what checks out
        """
    )

    @Argument(help: "The checkpoint: a Megatron root or iteration folder (torch_dist or legacy), or an HF safetensors folder or file.",
              completion: .directory)
    var path: String
    @Option(help: "For a Megatron checkpoint: the HF folder whose config.json to check against (default: the embedded hf_config/, else run_config.yaml).",
            completion: .directory)
    var hfConfig: String?
    @OptionGroup var iteration: IterationOption
    @Flag(help: "Print the report as JSON (on stdout, also when a problem is found).")
    var json = false
    @OptionGroup var jobs: JobsOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let report = try CheckpointCheck.run(try iteration.resolveIfMegatron(path), hfConfig: hfConfig, jobs: jobs.count)
            if json {
                print(JSONWriter.write(report.json))
            } else {
                print("\(report.format.rawValue) checkpoint \(path)")
                for c in report.checks {
                    print("  \(c.ok ? "ok  " : c.skipped ? "skip" : "FAIL") \(c.name): \(c.detail)")
                    for p in c.problems {
                        print("       - \(p.oneLine)")
                        if let h = p.hint { print("         hint: \(h)") }
                    }
                }
                let n = report.problems.count
                print(report.ok ? "every check passed" : "\(n) problem\(n == 1 ? "" : "s") found")
            }
            fflush(stdout)   // the report before the error line, also when both go to one terminal
            if let first = report.problems.first {
                let n = report.problems.count
                throw BridgeError(.check, (n > 1 ? "\(n) problems; first: " : "") + first.summary, file: first.file, key: first.key,
                                  byteOffset: first.byteOffset, hint: first.hint)
            }
            if !report.ok {
                throw BridgeError(.check, "some checks could not run", file: path)
            }
        }
    }
}
