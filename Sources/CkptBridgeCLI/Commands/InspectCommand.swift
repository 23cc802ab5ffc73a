import ArgumentParser
import Bridge
import TensorCore

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List the tensors of a checkpoint: name, dtype, shape, bytes and file.",
        discussion: """
        PATH may be a .safetensors file, a Hugging Face folder (sharded or not), a Megatron torch_dist \
        folder (the checkpoint root or one iteration folder), a legacy Megatron folder, or a single .pt file. \
        Only headers and metadata are read: inspecting a 60 GB checkpoint reads a few megabytes.

        Examples:
          ckpt-bridge inspect ./Qwen3-VL-8B-Instruct
          ckpt-bridge inspect ./megatron/iter_0000000 --json | jq '.tensors | length'
          ckpt-bridge inspect ./training-run --iteration 2000     (not the one the tracker names)
        """
    )

    @Argument(help: "The checkpoint to inspect.", completion: .file())
    var path: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var iteration: IterationOption

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let catalog = try TensorCatalog.open(try iteration.resolve(path))
            if json {
                print(JSONWriter.write(catalog.reportJSON))
                return
            }
            let rows = catalog.entries.map { e in
                [e.name, e.dtype.rawValue, Shape.describe(e.shape), String(e.source.byteCount), e.location]
            }
            print(renderTable(["name", "dtype", "shape", "bytes", "file"], rows, rightAligned: [3]))
            print("")
            print("format: \(catalog.format.rawValue)")
            for (k, v) in catalog.notes { print("\(k): \(v)") }
            print("total: \(catalog.entries.count) tensors, \(catalog.totalBytes) bytes (\(ByteCount.format(catalog.totalBytes)))")
        }
    }
}
