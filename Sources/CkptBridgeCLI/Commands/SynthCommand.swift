import ArgumentParser
import Bridge
import Foundation
import SafeTensors
import Synth
import TensorCore

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic Hugging Face checkpoint: a real Qwen3-VL config and shapes, N text layers, random weights.",
        discussion: """
        The folder looks like a Hub download: model-0000X-of-0000Y.safetensors shards with \
        model.safetensors.index.json (a single model.safetensors when everything fits in one shard), \
        config.json (the real one with num_hidden_layers = N), generation_config.json and \
        preprocessor_config.json. The vision tower, embeddings and lm_head are full size, so even \
        --layers 1 is several GB: this is for benchmarks and interop tests at real sizes.

        Tensor names and shapes come from the mapping tables (the HF side of every Megatron parameter), \
        with the Hub's fused expert layout (mlp.experts.gate_up_proj [E, H, 2I], down_proj [E, I, H]). \
        Values are uniform in ±0.02 (1 ± 0.02 for norm weights), a pure function of (seed, tensor name, \
        element index): the same seed always gives the same bytes, whatever --jobs.

        Presets:
          qwen3-vl-30b-a3b   Qwen3-VL-30B-A3B: 48 MoE layers (128 experts, top-8)
          qwen3-vl-8b        Qwen3-VL-8B: 36 dense layers, hidden 4096

        Examples:
          ckpt-bridge synth ./s30b --preset qwen3-vl-30b-a3b --layers 2
          ckpt-bridge synth ./s8b --preset qwen3-vl-8b --layers 2 --dtype fp32 --seed 7
          # 1 GB shards with an index, replacing ./s30b:
          ckpt-bridge synth ./s30b --preset qwen3-vl-30b-a3b --layers 1 \\
              --max-shard-size 1GB --overwrite
        """
    )

    @Argument(help: "The folder to create.")
    var outDir: String

    @Option(help: "The model to copy: \(SynthPreset.allCases.map(\.rawValue).joined(separator: " | ")).")
    var preset: String

    @Option(help: "Text decoder layers to keep (the vision tower is always complete).")
    var layers: Int

    @Option(help: "Weight dtype: bf16 (as on the Hub) or fp32.")
    var dtype: String = "bf16"

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Largest shard, in bytes or with a unit (5GB = 5e9 bytes, 2GiB).")
    var maxShardSize: String = "5GB"

    @Flag(help: "Replace OUT_DIR if it exists.")
    var overwrite = false

    @Option(help: "Writer threads (default: all cores).")
    var jobs: Int?

    @Flag(help: "Print the cause chain of errors.")
    var verbose = false

    func validate() throws {
        guard SynthPreset(rawValue: preset) != nil else {
            throw ValidationError("unknown preset '\(preset)'; choose one of: \(SynthPreset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard Self.parseDType(dtype) != nil else { throw ValidationError("--dtype must be bf16 or fp32, not '\(dtype)'") }
        guard layers >= 1 else { throw ValidationError("--layers must be at least 1") }
        guard let n = ByteCount.parse(maxShardSize), n > 0 else {
            throw ValidationError("--max-shard-size '\(maxShardSize)' is not a size (examples: 5GB, 500MB, 2GiB)")
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    static func parseDType(_ s: String) -> DType? {
        switch s.lowercased() {
        case "bf16", "bfloat16": return .bf16
        case "fp32", "f32", "float32": return .f32
        default: return nil
        }
    }

    func run() throws {
        try runReportingErrors(verbose: verbose) {
            let options = SyntheticCheckpoint.Options(preset: SynthPreset(rawValue: preset)!, layers: layers,
                                                      dtype: Self.parseDType(dtype)!, seed: seed,
                                                      maxShardSize: ByteCount.parse(maxShardSize)!)
            let synth = try SyntheticCheckpoint(options: options)
            let executor = WriteExecutor(jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
            let s = try synth.write(to: outDir, overwrite: overwrite, executor: executor)
            print("wrote \(s.path): \(options.preset.rawValue) with \(layers) of \(options.preset.realLayers) text layers, "
                + "\(s.tensors) tensors, \(ByteCount.format(s.tensorBytes)) \(options.dtype.rawValue) in \(s.shards) shard\(s.shards == 1 ? "" : "s"), "
                + String(format: "%.1f s", s.seconds))
        }
    }
}
