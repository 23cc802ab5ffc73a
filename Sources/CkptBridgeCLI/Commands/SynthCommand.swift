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
          qwen3-vl-235b-a22b Qwen3-VL-235B-A22B: 94 MoE layers (128 experts, top-8), hidden 4096, ~4.9 GB a layer

        Examples:
          ckpt-bridge synth ./s30b --preset qwen3-vl-30b-a3b --layers 2
          ckpt-bridge synth ./s8b --preset qwen3-vl-8b --layers 2 --dtype fp32 --seed 7
          # 1 GB shards with an index, replacing ./s30b:
          ckpt-bridge synth ./s30b --preset qwen3-vl-30b-a3b --layers 1 \\
              --max-shard-size 1GB --overwrite
        """
    )

    @Argument(help: "The folder to create.", completion: .directory)
    var outDir: String

    @Option(help: "The model to copy.")
    var preset: SynthPreset

    @Option(help: "Text decoder layers to keep (the vision tower is always complete).")
    var layers: Int

    @Option(help: "Weight dtype: bf16 (as on the Hub) or fp32.")
    var dtype: SynthDType = .bf16

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Largest shard, in bytes or with a unit (5GB = 5e9 bytes, 2GiB).")
    var maxShardSize = ByteSize(5_000_000_000)

    @Flag(help: "Replace OUT_DIR if it exists.")
    var overwrite = false

    @OptionGroup var jobs: JobsOption

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard layers >= 1 else { throw ValidationError("--layers must be at least 1") }
    }

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let options = SyntheticCheckpoint.Options(preset: preset, layers: layers, dtype: dtype.dtype, seed: seed,
                                                      maxShardSize: maxShardSize.bytes)
            let synth = try SyntheticCheckpoint(options: options)
            let executor = WriteExecutor(jobs: jobs.count)
            let s = try synth.write(to: outDir, overwrite: overwrite, executor: executor)
            print("wrote \(s.path): \(options.preset.rawValue) with \(layers) of \(options.preset.realLayers) text layers, "
                + "\(s.tensors) tensors, \(ByteCount.format(s.tensorBytes)) \(options.dtype.rawValue) in \(s.shards) shard\(s.shards == 1 ? "" : "s"), "
                + String(format: "%.1f s", s.seconds))
        }
    }
}

extension SynthPreset: ExpressibleByArgument {}

/// The dtypes `synth` writes: bf16 as on the Hub, or fp32.
enum SynthDType: String, ExpressibleByArgument, CaseIterable {
    case bf16, fp32

    var dtype: DType { self == .bf16 ? .bf16 : .f32 }
}
