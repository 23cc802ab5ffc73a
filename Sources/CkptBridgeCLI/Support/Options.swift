import ArgumentParser
import Bridge
import Foundation
import Forward
import TensorCore

/// `--dtype`: keep each tensor's dtype (bit-exact) or cast (the only lossy operation, on request).
enum DTypeOption: String, ExpressibleByArgument, CaseIterable {
    case keep, bf16, fp16, fp32

    var dtype: DType? {
        switch self {
        case .keep: return nil
        case .bf16: return .bf16
        case .fp16: return .f16
        case .fp32: return .f32
        }
    }
}

extension MegatronFormat: ExpressibleByArgument {}
extension VisionLayout: ExpressibleByArgument {}
extension ExpertLayoutChoice: ExpressibleByArgument {}
extension WeightsChoice: ExpressibleByArgument {}
extension CommonStatePlacement: ExpressibleByArgument {}
extension FSDPDTensorNames.ExpertNaming: ExpressibleByArgument {}

/// A size on the command line: bytes, or a number with a unit (5GB = 5·10⁹ bytes, 2GiB = 2·2³⁰). Parsed by the
/// argument parser itself, so a value it cannot read is a usage error (exit 64) before anything runs.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible {
    let bytes: Int

    init(_ bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        guard let n = ByteCount.parse(argument), n > 0 else { return nil }
        bytes = n
    }

    var description: String { ByteCount.format(bytes) }
    var defaultValueDescription: String { description }
}

/// Options every command has.
struct GlobalOptions: ParsableArguments {
    @Flag(help: "Print the cause chain of errors.")
    var verbose = false
}

/// The parallel layout to write.
struct LayoutOptions: ParsableArguments {
    @Option(help: "Tensor-parallel size: splits attention by query groups, MLPs, the vocabulary.")
    var tp = 1
    @Option(help: "Pipeline-parallel size: splits the text layers into stages.")
    var pp = 1
    @Option(help: "Expert-parallel size: each rank holds experts/EP experts.")
    var ep = 1
    @Option(help: "Expert tensor-parallel size (default: the TP size, as Megatron).")
    var etp: Int?
    @Option(help: "Layers on the first pipeline stage, when it differs from an even split.")
    var ppFirstLayers: Int?
    @Option(help: "Layers on the last pipeline stage, when it differs from an even split.")
    var ppLastLayers: Int?
    @Flag(help: "Pad the vocabulary to a multiple of 128·TP, as Megatron-LM's padded_vocab_size (pruned again on export).")
    var padVocab = false

    var layout: ParallelLayout {
        ParallelLayout(tp: tp, pp: pp, ep: ep, etp: etp, firstStageLayers: ppFirstLayers, lastStageLayers: ppLastLayers, padVocab: padVocab)
    }

    func validate() throws {
        for (n, v) in [("--tp", tp), ("--pp", pp), ("--ep", ep), ("--etp", etp ?? 1)] where v < 1 {
            throw ValidationError("\(n) must be at least 1")
        }
        if (ppFirstLayers != nil || ppLastLayers != nil) && pp < 2 {
            throw ValidationError("--pp-first-layers / --pp-last-layers need --pp 2 or more")
        }
    }
}

/// `--jobs`: worker threads, at least one (default: the number of cores).
struct JobsOption: ParsableArguments {
    @Option(help: "Worker threads (default: the number of cores).")
    var jobs: Int?

    var count: Int { jobs ?? ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1, not \(jobs)") }
    }
}

/// How to run a conversion: threads, memory, overwrite, progress.
struct RunOptions: ParsableArguments {
    /// Below this the writers could not hold one read buffer; a smaller `--memory` is a typo, not a plan.
    static let memoryFloor = 1 << 20

    @OptionGroup var jobs: JobsOption
    @Option(help: "Bytes held in memory by writers at once (at least 1MiB).")
    var memory = ByteSize(256_000_000)
    @Flag(help: "Replace OUT_DIR if it exists (it is replaced only once the new one is complete).")
    var overwrite = false
    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        if memory.bytes < Self.memoryFloor {
            throw ValidationError("--memory must be at least 1MiB, not \(memory.bytes) bytes")
        }
    }

    func executor(total: Int) -> (WriteExecutor, ProgressReporter?) {
        let progress = WriteProgress(total: total)
        let reporter = quiet ? nil : ProgressReporter(progress)
        return (WriteExecutor(jobs: jobs.count, budget: memory.bytes, progress: progress), reporter)
    }
}

/// A progress bar on stderr (bytes, rate, ETA) when stderr is a terminal; silent otherwise.
final class ProgressReporter {
    private let progress: WriteProgress
    private var thread: Thread?
    private var running = true
    private let isTTY = isatty(2) != 0

    init(_ progress: WriteProgress) {
        self.progress = progress
        guard isTTY, progress.total > 0 else { return }
        let t = Thread { [weak self] in
            while let self, self.running {
                self.draw()
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        thread = t
        t.start()
    }

    private func draw() {
        let done = progress.bytesDone, total = max(1, progress.total)
        let elapsed = max(0.001, Date().timeIntervalSince(progress.started))
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 30
        let filled = min(width, width * done / total)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\r\(bar) \(ByteCount.format(done))/\(ByteCount.format(total))  \(ByteCount.format(Int(rate)))/s  ETA \(Int(eta))s  "
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        running = false
        if isTTY, progress.total > 0 { draw(); FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

extension GELUKind: ExpressibleByArgument {}

/// The inputs and numerics of a forward pass (`forward`, and both sides of `verify`).
struct ForwardPassOptions: ParsableArguments {
    @Option(help: "Inputs file (safetensors); a file with text./image. prefixed inputs runs each. Default: the built-in text and image prompts.",
            completion: .file(extensions: ["safetensors"]))
    var inputs: String?
    @Option(help: "Key prefix of the inputs in the file (e.g. 'image.').")
    var prefix: String?
    @Option(help: "GELU in the vision patch mergers: exact (transformers, default) or tanh (Megatron's runtime).")
    var mergerGelu: GELUKind = .exact
    @Option(help: "BLAS threads (default: the number of cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, not \(threads)") }
    }

    var options: ForwardOptions { ForwardOptions(mergerGELU: mergerGelu, threads: threads) }
}
