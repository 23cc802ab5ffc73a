import ArgumentParser
import Bridge
import Foundation
import TensorCore

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints tensor by tensor (name, dtype, shape, XXH3-64 of the bytes).",
        discussion: """
        A and B may be in different formats: Megatron checkpoints are compared through their global \
        tensors, so a TP2 torch_dist checkpoint equals the TP1 one it was resharded from.

        Exit status: 0 when every tensor is equal, 1 when anything differs (missing, extra, other dtype, \
        shape or bytes), 2 on error.

        Example (a round trip in CI):
          ckpt-bridge diff ./hf ./roundtrip-hf && echo bit-exact

        --iteration applies to each side that is a Megatron checkpoint root:
          ckpt-bridge diff ./run-a ./run-b --iteration 1000
        """
    )

    @Argument(help: "The first checkpoint.", completion: .file())
    var a: String

    @Argument(help: "The second checkpoint.", completion: .file())
    var b: String

    @Flag(help: "Print a JSON report instead of text.")
    var json = false

    @OptionGroup var jobs: JobsOption

    @OptionGroup var iteration: IterationOption

    @OptionGroup var global: GlobalOptions

    func run() throws {
        var equal = true
        try runReportingErrors(verbose: global.verbose) {
            let ca = try TensorCatalog.open(try iteration.resolveIfMegatron(a))
            let cb = try TensorCatalog.open(try iteration.resolveIfMegatron(b))
            let r = try CheckpointDiff.compare(ca, cb, jobs: jobs.count)
            equal = r.isEqual
            if json {
                print(JSONWriter.write(r.reportJSON))
            } else {
                for n in r.missing { print("missing in B: \(n)") }
                for n in r.extra { print("extra in B:   \(n)") }
                for d in r.differing { print("differs:      \(d.name): \(d.what)") }
                if r.isEqual {
                    print("equal: \(r.compared) tensors (\(ca.format.rawValue) vs \(cb.format.rawValue))")
                } else {
                    print("different: \(r.missing.count) missing, \(r.extra.count) extra, \(r.differing.count) differing, of \(r.compared) compared")
                }
            }
        }
        if !equal { throw ExitCode(Status.different) }
    }
}

