import ArgumentParser
import Bridge
import Foundation
import SafeTensors
import TensorCore

/// The arguments of `export` (shared with `plan export`).
struct ExportArguments: ParsableArguments {
    @Argument(help: "The Megatron checkpoint: torch_dist or legacy, its root or one iteration folder, any parallel layout.", completion: .directory)
    var megatronDir: String
    @Argument(help: "The Hugging Face folder to create.", completion: .directory)
    var outDir: String
    @Option(help: "An HF folder whose config.json (and tokenizer/processor files) to use. Default: the copy import stored, else Megatron-Bridge's run_config.yaml.",
            completion: .directory)
    var hfConfig: String?
    @Option(help: "Largest shard (decimal units: 5GB = 5·10⁹ bytes).")
    var maxShardSize = ByteSize(5_000_000_000)
    @Option(help: "How to write experts: hub (fused [E,H,2I], as on the Hub; default), v5 (fused [E,2I,H]) or per-expert.")
    var expertLayout: ExpertLayoutChoice = .hub
    @Option(help: "keep (bit-exact, default), or cast every tensor to bf16, fp16 or fp32.")
    var dtype: DTypeOption = .keep
    @Option(help: "Leave out stored tensors matching this pattern on purpose (repeatable).")
    var allowUnused: [String] = []

    func plan() throws -> (ExportPlan, HFConfigRecovery.Found) {
        let checkpoint = try MegatronCheckpoint.open(megatronDir, hfConfig: hfConfig)
        let found = checkpoint.found
        let plan = try ExportPlan(reader: try checkpoint.parameterReader(), hfConfig: found.config, table: checkpoint.table,
                                  request: ExportRequest(expertLayout: expertLayout, dtype: dtype.dtype, maxShardSize: maxShardSize.bytes, allowUnused: allowUnused))
        return (plan, found)
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Convert a Megatron-Core checkpoint (any TP/PP/EP layout) back into a Hugging Face checkpoint.",
        discussion: """
        Reads torch_dist or legacy checkpoints written by Megatron-LM, Megatron-Bridge or ckpt-bridge, \
        reassembles every parameter from its shards, undoes the transforms (QKV interleave, gate/up fusion, \
        expert stacking, vocab padding) and writes safetensors shards with an index, config.json and the \
        tokenizer/processor files. Bit-exact unless --dtype asks for a cast.

        Examples:
          ckpt-bridge export ./megatron ./hf-out
          ckpt-bridge export ./megatron/iter_0001000 ./hf-out --hf-config ./Qwen3-VL-8B-Instruct --dtype bf16
          ckpt-bridge diff ./Qwen3-VL-8B-Instruct ./hf-out       (a round trip is bit-exact)
        """
    )

    @OptionGroup var arguments: ExportArguments
    @OptionGroup(title: "Running") var running: RunOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let start = Date()
            let (plan, found) = try arguments.plan()
            let (executor, reporter) = running.executor(total: plan.totalBytes)
            try ExportPipeline.run(plan, hfConfig: found.config, configDirectory: found.companionDirectory, to: arguments.outDir,
                                   overwrite: running.overwrite, executor: executor)
            reporter?.finish()
            let secs = Date().timeIntervalSince(start)
            print("exported \(plan.context.table.family) (vision layout \(plan.context.visionLayout?.rawValue ?? "none"), experts \(plan.context.expertLayout)): " +
                  "\(plan.hfTensors.count) tensors, \(ByteCount.format(plan.totalBytes)) in \(String(format: "%.2f", secs)) s → \(arguments.outDir) (config from \(found.origin))")
        }
    }
}
