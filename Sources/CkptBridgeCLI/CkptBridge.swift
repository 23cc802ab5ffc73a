import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

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
          ckpt-bridge check ./megatron                                  every checksum, chunk and key, without converting

        Every command fails closed: bad input stops with a message naming the file, key and byte \
        offset, exit status 2, and nothing existing is touched.

        Exit status (every command):
          0   done; for diff and verify, the checkpoints agree
          1   diff found a difference, or verify's logits disagree beyond --max-abs
          2   error: bad input, bad request, I/O failure (one 'error:' line, a 'hint:', --verbose for causes)
          64  usage: an unknown option, a missing argument, a value out of range (--jobs 0, --memory 1)

        Shell completion: ckpt-bridge --generate-completion-script bash|zsh|fish
        """,
        version: version,
        subcommands: [ImportCommand.self, ExportCommand.self, PlanCommand.self, VerifyCommand.self, ForwardCommand.self, GenerateCommand.self, TokenizeCommand.self, InspectCommand.self, DiffCommand.self, CheckCommand.self, SynthCommand.self, CleanCommand.self, FinalizeCommand.self]
    )

    /// A file-size limit (`ulimit -f`) must give an EFBIG error with a hint and a clean output folder, not
    /// SIGXFSZ's silent death, so the signal is ignored before anything runs.
    static func main() {
        #if canImport(Glibc)
        signal(SIGXFSZ, SIG_IGN)
        #endif
        main(nil)
    }
}
