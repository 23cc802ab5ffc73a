import Bridge
import Forward
import ForwardCheckpoint
import Foundation
import SafeTensors
import TensorCore

extension GELUKind: CaseIterable {
    public static var allCases: [GELUKind] { [.exact, .tanh] }
}

/// The operations behind the C entry points: each reads its request, runs the engine exactly as the CLI
/// command of the same name does, and returns the JSON result. Nothing here prints or exits.
enum Operations {
    /// Worker threads and memory budget of a conversion (`jobs`, `memory`; the CLI's --jobs, --memory).
    static func executor(_ r: inout Request, total: Int, observer: WriteProgress.Observer?) throws -> WriteExecutor {
        let jobs = try r.int("jobs", min: 1) ?? ProcessInfo.processInfo.activeProcessorCount
        let memory = try r.byteSize("memory") ?? 256_000_000
        guard memory >= 1 << 20 else {
            throw BridgeError(.request, "\(r.operation): 'memory' must be at least 1MiB, not \(memory) bytes", key: "memory")
        }
        return WriteExecutor(jobs: jobs, budget: memory, progress: WriteProgress(total: total, observer: observer))
    }

    static func inspect(_ r: inout Request) throws -> JSONValue {
        let path = try r.requiredString("path")
        try r.finish()
        return try TensorCatalog.open(path).reportJSON
    }

    /// The import request fields (the CLI's import arguments): hf_dir, layout, format, dtype, vision_layout,
    /// allow_unused, iteration, common_state, integrity_manifest.
    static func importPlan(_ r: inout Request) throws -> ImportPlan {
        let hfDir = try r.requiredString("hf_dir")
        let layout = ParallelLayout(tp: try r.int("tp", min: 1) ?? 1, pp: try r.int("pp", min: 1) ?? 1, ep: try r.int("ep", min: 1) ?? 1,
                                    etp: try r.int("etp", min: 1), firstStageLayers: try r.int("pp_first_layers", min: 1),
                                    lastStageLayers: try r.int("pp_last_layers", min: 1), padVocab: try r.bool("pad_vocab") ?? false)
        if (layout.firstStageLayers != nil || layout.lastStageLayers != nil) && layout.pp < 2 {
            throw BridgeError(.request, "\(r.operation): pp_first_layers / pp_last_layers need pp 2 or more", key: "pp")
        }
        let request = ImportRequest(layout: layout, format: try r.choice("format", MegatronFormat.self) ?? .torchDist, dtype: try r.dtype(),
                                    visionLayout: try r.choice("vision_layout", VisionLayout.self),
                                    allowUnused: try r.strings("allow_unused"), iteration: try r.int("iteration", min: 0) ?? 0,
                                    commonState: try r.choice("common_state", CommonStatePlacement.self) ?? .file,
                                    integrityManifest: try r.bool("integrity_manifest") ?? true)
        return try ImportPlan(source: try HFCheckpoint(path: hfDir, dequantizeTo: request.dtype ?? .bf16), request: request)
    }

    static func planImport(_ r: inout Request) throws -> JSONValue {
        _ = try r.string("out_dir")  // accepted, as `plan import` takes it: a plan writes nothing
        let plan = try importPlan(&r)
        try r.finish()
        return try plan.reportJSON()
    }

    static func runImport(_ r: inout Request, observer: WriteProgress.Observer?) throws -> JSONValue {
        let start = Date()
        let out = try r.requiredString("out_dir")
        let overwrite = try r.bool("overwrite") ?? false
        let plan = try importPlan(&r)
        let executor = try executor(&r, total: plan.totalBytes, observer: observer)
        try r.finish()
        try executor.progress?.begin()
        try ImportPipeline.run(plan, to: out, overwrite: overwrite, executor: executor)
        return .object([("out_dir", .string(out)), ("family", .string(plan.context.table.family)),
                        ("layout", .string(plan.request.layout.description)), ("format", .string(plan.request.format.rawValue)),
                        ("tensors", .int(plan.storage.count)), ("bytes", .int(plan.totalBytes)),
                        ("seconds", .double(Date().timeIntervalSince(start))), ("skipped", .array(plan.skipped.map { .string($0) }))])
    }

    /// The export request fields (the CLI's export arguments, less the LoRA flags): megatron_dir, hf_config,
    /// max_shard_size, expert_layout, dtype, allow_unused, iteration, weights, quantize ("fp8-block[:RxC]"; experts
    /// default to v5 then).
    static func exportPlan(_ r: inout Request) throws -> (ExportPlan, HFConfigRecovery.Found) {
        let dir = try MegatronCheckpoint.select(try r.requiredString("megatron_dir"), iterationText: try r.iterationText("iteration"))
        let checkpoint = try MegatronCheckpoint(source: try MegatronSource.open(dir), hfConfig: try r.string("hf_config"))
        let weights = try r.choice("weights", WeightsChoice.self) ?? .model
        let quantize = try r.string("quantize").map { try FP8QuantizationConfig(quantizeArgument: $0) }
        let request = ExportRequest(expertLayout: try r.choice("expert_layout", ExpertLayoutChoice.self) ?? (quantize == nil ? .hub : .v5), dtype: try r.dtype(),
                                    maxShardSize: try r.byteSize("max_shard_size") ?? 5_000_000_000, allowUnused: try r.strings("allow_unused"),
                                    quantize: quantize)
        let plan = try ExportPlan(reader: try checkpoint.parameterReader(weights: weights), hfConfig: checkpoint.found.config, table: checkpoint.table, request: request)
        return (plan, checkpoint.found)
    }

    static func planExport(_ r: inout Request) throws -> JSONValue {
        _ = try r.string("out_dir")
        let (plan, found) = try exportPlan(&r)
        try r.finish()
        return plan.reportJSON(configOrigin: found.origin)
    }

    static func runExport(_ r: inout Request, observer: WriteProgress.Observer?) throws -> JSONValue {
        let start = Date()
        let out = try r.requiredString("out_dir")
        let overwrite = try r.bool("overwrite") ?? false
        let (plan, found) = try exportPlan(&r)
        let executor = try executor(&r, total: plan.totalBytes, observer: observer)
        try r.finish()
        try executor.progress?.begin()
        try ExportPipeline.run(plan, hfConfig: found.config, configDirectory: found.companionDirectory, to: out,
                               overwrite: overwrite, executor: executor)
        return .object([("out_dir", .string(out)), ("family", .string(plan.context.table.family)),
                        ("expert_layout", .string(plan.context.expertLayout.description)), ("config", .string(found.origin)),
                        ("tensors", .int(plan.hfTensors.count)), ("bytes", .int(plan.totalBytes)),
                        ("seconds", .double(Date().timeIntervalSince(start))),
                        ("training_state", .array(plan.trainingState.map { .string($0) }))])
    }

    static func diff(_ r: inout Request) throws -> JSONValue {
        let a = try r.requiredString("a"), b = try r.requiredString("b")
        let jobs = try r.int("jobs", min: 1) ?? ProcessInfo.processInfo.activeProcessorCount
        try r.finish()
        return try CheckpointDiff.compare(try TensorCatalog.open(a), try TensorCatalog.open(b), jobs: jobs).reportJSON
    }

    /// The forward-pass fields shared by verify and forward: inputs, prefix, merger_gelu, threads.
    static func forwardOptions(_ r: inout Request) throws -> (inputs: String?, prefix: String?, options: ForwardOptions) {
        let inputs = try r.string("inputs"), prefix = try r.string("prefix")
        let gelu = try r.choice("merger_gelu", GELUKind.self) ?? .exact
        return (inputs, prefix, ForwardOptions(mergerGELU: gelu, threads: try r.int("threads", min: 1)))
    }

    /// verify: the same fields and report as `ckpt-bridge verify --json`.
    static func verify(_ r: inout Request) throws -> JSONValue {
        let hfDir = try r.requiredString("hf_dir"), megatronDir = try r.requiredString("megatron_dir")
        let maxAbs = try r.double("max_abs") ?? 5e-5
        let pass = try forwardOptions(&r)
        try r.finish()
        return try Verification.run(hfDir: hfDir, megatronDir: megatronDir, inputs: pass.inputs, prefix: pass.prefix,
                                    options: pass.options, maxAbs: maxAbs).reportJSON
    }

    /// forward: runs the first input through the checkpoint and writes the logits (safetensors) to `out`.
    static func forward(_ r: inout Request) throws -> JSONValue {
        let path = try r.requiredString("path"), out = try r.requiredString("out")
        let hfConfig = try r.string("hf_config")
        let pass = try forwardOptions(&r)
        try r.finish()
        let model = try ForwardModel.open(path, hfConfig: hfConfig)
        let (name, input) = try loadInputs(path: pass.inputs, prefix: pass.prefix, config: model.config)[0]
        let t0 = Date()
        let output = try Qwen3VLForward(config: model.config, weights: model.weights, options: pass.options).run(input)
        let seconds = Date().timeIntervalSince(t0)
        try output.save(to: out)
        return .object([("model", .string(model.kind)), ("input", .string(name)), ("tokens", .int(input.inputIds.count)),
                        ("logits_shape", .ints(output.shape)), ("seconds", .double(seconds)), ("out", .string(out))])
    }
}

extension WriteProgress {
    /// Tells the observer the write is about to start (0 bytes done), so a caller can cancel before anything
    /// is created.
    func begin() throws {
        add(0, label: "")
        try checkCancelled()
    }
}
