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
    @Option(help: "How to write experts: hub (fused [E,H,2I], as on the Hub; default), v5 (fused [E,2I,H]; default with --quantize) or per-expert.")
    var expertLayout: ExpertLayoutChoice?
    @Option(help: "keep (bit-exact, default), or cast every tensor to bf16, fp16 or fp32.")
    var dtype: DTypeOption = .keep
    @Option(help: "fp8-block[:ROWSxCOLS]: write fine-grained FP8 as the Hub's FP8 releases (F8_E4M3 weights, F32 weight_scale_inv per block; 128x128 by default).")
    var quantize: QuantizeOption?
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
    @Option(help: "model (the model's parameters, default) or main-params (a training checkpoint's fp32 master weights, from the optimizer state: Float16Optimizer, DistributedOptimizer fully_reshardable / fully_sharded_model_space; dp_reshardable buckets are refused, their parameter layout is not saved).")
    var weights: WeightsChoice = .model


    /// The expert layout to write: as asked, else hub, or v5 when quantizing (the layout transformers'
    /// `FP8Experts` loads, with blocks over each expert's [out, in]).
    var experts: ExpertLayoutChoice { expertLayout ?? (quantize == nil ? .hub : .v5) }

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
                                  request: ExportRequest(expertLayout: experts, dtype: dtype.dtype, maxShardSize: maxShardSize.bytes, allowUnused: allowUnused,
                                                         quantize: quantize?.config))
        return (plan, found)
    }
}

/// `--quantize fp8-block[:ROWSxCOLS]`.
struct QuantizeOption: ExpressibleByArgument {
    let config: FP8QuantizationConfig

    init?(argument: String) {
        guard let c = try? FP8QuantizationConfig(quantizeArgument: argument) else { return nil }
        config = c
    }

    static var defaultCompletionKind: CompletionKind { .list(["fp8-block", "fp8-block:128x128"]) }
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
          ckpt-bridge export ./megatron ./hf-fp8 --quantize fp8-block     (FP8 as the Hub's -FP8 releases, 128x128 blocks)
          ckpt-bridge verify ./hf-fp8 ./megatron --max-abs 0.5            (reports how far FP8 moved the logits)
          ckpt-bridge export ./megatron ./hf-out --nodes 4 --node 1   (node 1's shards of 4; Docs/cluster.md)

        --quantize fp8-block[:ROWSxCOLS] quantizes every linear weight except embeddings, lm_head, the MoE \
        router, norms and the vision tower (quantization_config modules_to_not_convert, as the Hub's), per \
        block as torch computes it: amax = max |w| over the block (partial edge blocks over the elements \
        they have), scale = 448 / amax (1 when amax is 0), q = float8_e4m3fn(clamp(w · scale, ±448)) rounding \
        to nearest even, weight_scale_inv = 1 / scale in F32.

        LoRA (Megatron-Bridge PEFT checkpoints, '<module>.adapter.linear_in/linear_out.weight'): \
        without a flag, adapter weights stop the export. alpha comes from run_config.yaml's peft section, \
        else --lora-alpha.
          ckpt-bridge export ./lora-run/iter_0001000 ./adapter --adapter-only     (PEFT: adapter_model.safetensors)
          ckpt-bridge export ./lora-merged-ckpt ./hf-merged --merge-adapter --lora-alpha 32
        """
    )

    @OptionGroup var arguments: ExportArguments
    @OptionGroup(title: "Running") var running: RunOptions
    @OptionGroup(title: "Split over nodes (Docs/cluster.md)") var split: NodeOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let start = Date()
            if arguments.adapterOnly {
                // An adapter is a few MB: one process writes it, whatever the scheduler's variables say.
                if (split.nodes ?? 1) > 1 { throw ValidationError("--adapter-only is written by one process; drop --nodes/--node") }
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
            let output = try ExportPipeline.output(plan, hfConfig: found.config, configDirectory: found.companionDirectory)
            guard try split.write(output, to: arguments.outDir, total: plan.totalBytes, running: running) else { return }
            let secs = Date().timeIntervalSince(start)
            print("exported \(plan.context.table.family) (vision layout \(plan.context.visionLayout?.rawValue ?? "none"), experts \(plan.context.expertLayout)): " +
                  "\(plan.hfTensors.count) tensors, \(ByteCount.format(plan.totalBytes)) in \(String(format: "%.2f", secs)) s → \(arguments.outDir) (config from \(found.origin))")
            if let q = plan.request.quantize {
                let n = plan.hfTensors.filter { q.quantizes($0.name, shape: $0.shape) }.count
                print("FP8 (\(q.blockRows)x\(q.blockCols) blocks): \(n) weights quantized to F8_E4M3 with F32 weight_scale_inv; the rest left as --dtype says")
            }
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
