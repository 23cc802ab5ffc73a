import ArgumentParser
import Foundation
import TensorCore

struct CleanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Remove the partial output folders that killed or crashed runs left in a folder.",
        discussion: """
        import, export and synth write into a hidden sibling of the output (.OUT.partial-PID-RANDOM/) and \
        rename it into place only when complete. A run that is killed leaves that folder behind. The next \
        run into the same output removes its own stale partials; clean removes every stale partial in \
        PARENT, whatever output it was for. A partial whose process is still running is left alone.

        Examples:
          ckpt-bridge clean ./checkpoints --dry-run     list what would be removed
          ckpt-bridge clean ./checkpoints
        """
    )

    @Argument(help: "The folder holding the outputs (the parent of OUT).", completion: .directory)
    var parent: String
    @Flag(help: "List the stale partial folders without removing them.")
    var dryRun = false
    @Flag(help: "Print JSON.")
    var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            guard FileSystem.isDirectory(parent) else {
                throw TensorCoreError(.io, "not a folder", file: parent, hint: "pass the folder that holds the outputs")
            }
            let stale = AtomicOutputDirectory.stalePartials(in: parent)
            if !dryRun { for p in stale { FileSystem.remove(p) } }
            if json {
                print(JSONWriter.write(.object([("removed", .bool(!dryRun)), ("partials", .array(stale.map { .string($0) }))])))
            } else {
                for p in stale { print("\(dryRun ? "would remove" : "removed"): \(p)") }
                print("\(stale.count) stale partial folder\(stale.count == 1 ? "" : "s")\(dryRun ? " (dry run)" : "")")
            }
        }
    }
}
