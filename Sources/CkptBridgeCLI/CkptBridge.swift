import ArgumentParser

/// `ckpt-bridge`: convert Qwen3-VL checkpoints between Hugging Face safetensors and Megatron-Core,
/// torch-free, and prove each conversion with a CPU forward pass.
@main
struct CkptBridge: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "ckpt-bridge",
        abstract: "Convert Qwen3-VL checkpoints between Hugging Face safetensors and Megatron-Core, without torch.",
        discussion: """
        Formats: Hugging Face safetensors (file or sharded folder), Megatron-Core torch_dist \
        (.metadata + __R_W.distcp), legacy Megatron (mp_rank_*/model_optim_rng.pt) and single torch.save files.

        Typical use:
          ckpt-bridge import ./Qwen3-VL-30B-A3B-Instruct ./megatron --tp 2 --ep 4
          ckpt-bridge verify ./Qwen3-VL-30B-A3B-Instruct ./megatron     logits of both, compared
          ckpt-bridge export ./megatron ./hf-out
          ckpt-bridge diff ./Qwen3-VL-30B-A3B-Instruct ./hf-out         exit 0 equal, 1 different, 2 error
          ckpt-bridge inspect ./megatron

        Every command fails closed: bad input stops with a message naming the file, key and byte \
        offset, exit status 2, and nothing existing is touched.
        """,
        version: version,
        subcommands: [ImportCommand.self, ExportCommand.self, PlanCommand.self, VerifyCommand.self, ForwardCommand.self, InspectCommand.self, DiffCommand.self, SynthCommand.self]
    )
}
