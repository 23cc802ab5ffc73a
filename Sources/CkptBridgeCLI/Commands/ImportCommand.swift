import ArgumentParser
import Bridge
import Foundation
import TensorCore

/// The arguments of `import` (shared with `plan import`).
struct ImportArguments: ParsableArguments {
    @Argument(help: "The Hugging Face checkpoint folder (config.json + safetensors).", completion: .directory)
    var hfDir: String
    @Argument(help: "The Megatron checkpoint folder to create.", completion: .directory)
    var outDir: String
    @OptionGroup(title: "Parallel layout")
    var layout: LayoutOptions
    @Option(help: "torch_dist (Megatron-Core distributed checkpoint, the default of Megatron-LM and Megatron-Bridge), legacy (per-rank model_optim_rng.pt) or fsdp_dtensor (Megatron FSDP: per-layer parameters, SwiGLU fc1 split into _w/_v, whole tensors; no parallel layout).")
    var format: MegatronFormat = .torchDist
    @Option(help: "fsdp_dtensor expert names: grouped (TE grouped GEMM, mlp.experts.linear_fc1.weight5; default) or sequential (SequentialMLP, mlp.experts.local_experts.5.linear_fc1.weight).")
    var fsdpExpertNames: FSDPDTensorNames.ExpertNaming = .grouped
    @Option(help: "keep (bit-exact, default), or cast every tensor to bf16, fp16 or fp32.")
    var dtype: DTypeOption = .keep
    @Option(help: "Qwen3-VL vision tower layout: megatron (Megatron-Bridge >= 0.6, default) or hf (Megatron-Bridge 0.3, ms-swift).")
    var visionLayout: VisionLayout?
    @Option(help: "Leave out HF tensors matching this pattern on purpose (repeatable; '*' an index, '**' a suffix).")
    var allowUnused: [String] = []
    @Option(help: "Save as this iteration (0 is saved as 'release', which Megatron-LM and Megatron-Bridge load for fine-tuning).")
    var iteration = 0
    @Flag(inversion: .prefixedNo,
          help: "Write megatron-core's integrity.json (SHA-256 of every file; torch_dist only). Hashing reads each file once more, from the page cache, one thread per file.")
    var integrityManifest = true
    @Option(help: "torch_dist common state (args, iteration): file (common.pt, read by every megatron-core; default) or dcp (the common_state item inside the DCP, as megatron-core >= 0.19 writes; older versions cannot load it).")
    var commonState: CommonStatePlacement = .file

    func validate() throws {
        if commonState == .dcp && format != .torchDist {
            throw ValidationError("--common-state dcp is for torch_dist; legacy rank files and fsdp_dtensor saves carry their common state inside")
        }
    }

    func plan() throws -> ImportPlan {
        let hf = try HFCheckpoint(path: hfDir, dequantizeTo: dtype.dtype ?? .bf16)
        return try ImportPlan(source: hf, request: ImportRequest(layout: layout.layout, format: format, dtype: dtype.dtype,
                                                                 visionLayout: visionLayout, allowUnused: allowUnused, iteration: iteration,
                                                                 commonState: commonState, integrityManifest: integrityManifest,
                                                                 fsdpExpertNaming: fsdpExpertNames))
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a Hugging Face Qwen3-VL checkpoint into a Megatron-Core checkpoint.",
        discussion: """
        Writes what Megatron-Bridge would have written: the same keys, global shapes, chunks and bytes, \
        plus metadata.json, common.pt (args for Megatron-LM), run_config.yaml (for Megatron-Bridge), the \
        _extra_state objects Megatron-Core expects, and a copy of the HF config for the way back. torch_dist \
        folders also get megatron-core's integrity.json (the SHA-256 of every file, as \
        save(..., verify_integrity=True) writes it), which every reader, and ckpt-bridge check, verifies.

        Strict: every HF tensor must be used, every Megatron tensor filled, every shape match the config. \
        Divisibility (query groups by TP, experts by EP, vocabulary by TP) is checked before anything is \
        written. The output appears only when complete.

        Examples:
          ckpt-bridge import ./Qwen3-VL-30B-A3B-Instruct ./megatron --tp 2 --ep 4
          ckpt-bridge import ./Qwen3-VL-8B-Instruct ./megatron --pp 4 --pp-first-layers 8 --pp-last-layers 10
          ckpt-bridge import ./hf ./legacy --format legacy --tp 2
          ckpt-bridge import ./hf ./fsdp --format fsdp_dtensor --dtype fp32   (Megatron FSDP; its weights are fp32 main params)
          ckpt-bridge import ./hf ./megatron --common-state dcp   (megatron-core >= 0.19's layout: no common.pt)
          ckpt-bridge plan import ./hf ./megatron --tp 2      (dry run: what would be written)
          ckpt-bridge import ./hf ./megatron --no-integrity-manifest   (skip the SHA-256 pass, like megatron-core's default)
          ckpt-bridge check ./megatron                        (re-check it later, or after a copy)
          ckpt-bridge import ./Qwen3-VL-8B-Instruct-FP8 ./megatron   (FP8: dequantized to bf16; --dtype fp32 keeps the exact products)

        Fine-grained FP8 folders (quantization_config quant_method "fp8"; F8_E4M3 weights with per-block \
        weight_scale_inv) are dequantized as torch does: float(q) · scale_inv[i // bh, j // bw] in fp32, one \
        cast to the output dtype (bf16 by default) rounding to nearest even. The scales are consumed.

        Split over nodes (Docs/cluster.md): each of N processes writes its share of the plan into \
        OUT.staging/; the last to finish (or 'ckpt-bridge finalize OUT') checks every file and assembles OUT. \
        The node is --node K, else SLURM_ARRAY_TASK_ID, SLURM_PROCID or RANK; the count --nodes N, else \
        SLURM_ARRAY_TASK_COUNT, SLURM_NTASKS or WORLD_SIZE. Pass --nodes N in job scripts: a rerun of one \
        node (sbatch --array=2) then still splits N ways.
          ckpt-bridge import ./hf ./megatron --tp 2 --ep 4 --nodes 4 --node 2
          sbatch --array=0-3 --wrap 'ckpt-bridge import ./hf ./megatron --tp 2 --ep 4 --nodes 4 --no-finalize'
          torchrun --nnodes 4 --nproc-per-node 1 … --no-python ckpt-bridge import ./hf ./megatron --tp 2 --ep 4
        """
    )

    @OptionGroup var arguments: ImportArguments
    @OptionGroup(title: "Running") var running: RunOptions
    @OptionGroup(title: "Split over nodes (Docs/cluster.md)") var split: NodeOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let start = Date()
            let plan = try arguments.plan()
            let output = try ImportPipeline.output(plan)
            guard try split.write(output, to: arguments.outDir, total: plan.totalBytes, running: running) else { return }
            let secs = Date().timeIntervalSince(start)
            print("imported \(plan.context.table.family) → \(arguments.format.rawValue) \(plan.request.layout): " +
                  "\(plan.storage.count) tensors, \(ByteCount.format(plan.totalBytes)) in \(String(format: "%.2f", secs)) s → \(arguments.outDir)")
            if !plan.skipped.isEmpty { print("left out on request (--allow-unused): \(plan.skipped.joined(separator: ", "))") }
        }
    }
}
