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
    @Flag(help: "LoRA checkpoint: write only the adapter, as a Hugging Face PEFT folder (adapter_model.safetensors, adapter_config.json).")
    var adapterOnly = false
    @Flag(help: "LoRA checkpoint: write full weights with the adapter merged in, W + (alpha/r)·B·A (fp32, cast once).")
    var mergeAdapter = false
    @Option(help: "LoRA alpha, when run_config.yaml's peft section does not record it (or to override it).")
    var loraAlpha: Double?
    @Option(help: "With --merge-adapter: the Megatron checkpoint (any layout) whose weights an adapter-only PEFT checkpoint was trained on.")
    var base: String?
    @OptionGroup var iteration: IterationOption
    @Option(help: "model (the model's parameters, default) or main-params (a training checkpoint's fp32 master weights, from the optimizer state).")
    var weights: WeightsChoice = .model


    func plan() throws -> (ExportPlan, HFConfigRecovery.Found) {
        if adapterOnly {
            throw BridgeError(.request, "plan export does not cover --adapter-only", hint: "run export --adapter-only directly (it writes a few MB)")
        }
        // With --base, the weights (and the config) come from the base checkpoint and the adapters from MEGATRON_DIR.
        let named = try MegatronSource.open(try iteration.resolve(megatronDir))
        let checkpoint = try MegatronCheckpoint(source: try base.map(MegatronSource.open) ?? named, hfConfig: hfConfig)
        let found = checkpoint.found
        let reader = try loraReader(try checkpoint.parameterReader(weights: weights), weights: checkpoint.source, adapters: named)
        let plan = try ExportPlan(reader: reader, hfConfig: found.config, table: checkpoint.table,
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
          ckpt-bridge export ./training-run ./hf-iter500 --iteration 500 --hf-config ./Qwen3-VL-8B-Instruct
          ckpt-bridge export ./training-run ./hf-fp32 --weights main-params     (the optimizer's fp32 master weights)
          ckpt-bridge diff ./Qwen3-VL-8B-Instruct ./hf-out       (a round trip is bit-exact)

        LoRA (Megatron-Bridge PEFT checkpoints, '<module>.adapter.linear_in/linear_out.weight'): \
        without a flag, adapter weights stop the export. alpha comes from run_config.yaml's peft section, \
        else --lora-alpha.
          ckpt-bridge export ./lora-run/iter_0001000 ./adapter --adapter-only     (PEFT: adapter_model.safetensors)
          ckpt-bridge export ./lora-merged-ckpt ./hf-merged --merge-adapter --lora-alpha 32
        """
    )

    @OptionGroup var arguments: ExportArguments
    @OptionGroup(title: "Running") var running: RunOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let start = Date()
            if arguments.adapterOnly {
                let (export, config) = try arguments.adapterPlan()
                let total = export.items.reduce(0) { $0 + $1.byteCount }
                let (executor, reporter) = running.executor(total: total)
                try export.write(to: arguments.outDir, config: config, overwrite: running.overwrite, executor: executor)
                reporter?.finish()
                print("exported LoRA adapter (r \(export.rank), lora_alpha \(config["lora_alpha"].map { JSONWriter.write($0) } ?? "?")): \(export.modules.count) modules, " +
                      "\(export.items.count) tensors, \(ByteCount.format(total)) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s → \(arguments.outDir)")
                return
            }
            let (plan, found) = try arguments.plan()
            let (executor, reporter) = running.executor(total: plan.totalBytes)
            try ExportPipeline.run(plan, hfConfig: found.config, configDirectory: found.companionDirectory, to: arguments.outDir,
                                   overwrite: running.overwrite, executor: executor)
            reporter?.finish()
            let secs = Date().timeIntervalSince(start)
            print("exported \(plan.context.table.family) (vision layout \(plan.context.visionLayout?.rawValue ?? "none"), experts \(plan.context.expertLayout)): " +
                  "\(plan.hfTensors.count) tensors, \(ByteCount.format(plan.totalBytes)) in \(String(format: "%.2f", secs)) s → \(arguments.outDir) (config from \(found.origin))")
            if let main = (plan.reader as? StorageTensorReader)?.store as? MainParamsStore {
                print("weights: fp32 master copies of \(main.trained.count) trained tensor(s) (\(main.prefix)*, by \(main.decidedBy)); " +
                      "\(main.frozen.count) frozen tensor(s) without optimizer state from the model weights" +
                      (main.ownMaster.isEmpty ? "" : "; \(main.ownMaster.count) fp32 tensor(s) stepped in place, their own master"))
            }
            if !plan.trainingState.isEmpty {
                print("training state left in the checkpoint (not model weights): \(plan.trainingState.count) tensor(s), e.g. \(plan.trainingState[0])")
            }
        }
    }
}
