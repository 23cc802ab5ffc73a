import SafeTensors
import TensorCore

/// The Megatron checkpoint formats import can write.
public enum MegatronFormat: String, Sendable, CaseIterable {
    case torchDist = "torch_dist"
    case legacy
    /// Megatron FSDP's `fsdp_dtensor` (a bare DCP save of per-layer module parameters, `FSDPDTensorNames`).
    case fsdpDTensor = "fsdp_dtensor"
}

/// Where a torch_dist checkpoint keeps its common (non-sharded) state: `args`, iteration, checkpoint version.
public enum CommonStatePlacement: String, Sendable, CaseIterable {
    /// `common.pt` next to `.metadata`: what megatron-core ≤ 0.18 writes and every version reads (the default).
    case file
    /// The DCP byte item `common_state/shard_0_1` and no `common.pt`, as megatron-core ≥ 0.19's
    /// `dist_checkpointing.save` writes it; older megatron-core cannot load such a folder.
    case dcp
}

/// What the user asked `import` for.
public struct ImportRequest {
    public var layout: ParallelLayout
    public var format: MegatronFormat
    /// Cast every tensor to this dtype (nil keeps each tensor's own, bit-exact).
    public var dtype: DType?
    public var visionLayout: VisionLayout?
    public var allowUnused: KeyFilter
    /// The iteration to save as (0 is written as `release`, which Megatron-LM and Megatron-Bridge both load).
    public var iteration: Int
    /// Where torch_dist output keeps the common state (legacy rank files carry theirs inside).
    public var commonState: CommonStatePlacement
    /// Write megatron-core's `integrity.json` (torch_dist only): the SHA-256 of every file, one sequential
    /// pass over each file after it is written.
    public var integrityManifest: Bool
    /// How fsdp_dtensor output names expert parameters (TE grouped GEMM, the default, or SequentialMLP).
    public var fsdpExpertNaming: FSDPDTensorNames.ExpertNaming

    public init(layout: ParallelLayout = ParallelLayout(), format: MegatronFormat = .torchDist, dtype: DType? = nil,
                visionLayout: VisionLayout? = nil, allowUnused: [String] = [], iteration: Int = 0, commonState: CommonStatePlacement = .file,
                integrityManifest: Bool = true, fsdpExpertNaming: FSDPDTensorNames.ExpertNaming = .grouped) {
        self.fsdpExpertNaming = fsdpExpertNaming
        self.layout = layout
        self.format = format
        self.dtype = dtype
        self.visionLayout = visionLayout
        self.allowUnused = KeyFilter(allowUnused)
        self.iteration = iteration
        self.commonState = commonState
        self.integrityManifest = integrityManifest
    }
}

/// One chunk of a torch_dist tensor: a region of the storage tensor, written by one rank.
public struct PlannedChunk {
    /// The region of the storage tensor (prepended axes included).
    public var box: Box
    /// The global rank that writes it.
    public var rank: Int
    /// The parameter it belongs to, and the shard of that parameter it is.
    public var parameter: Int
    public var shard: Shard
}

/// A torch_dist storage tensor: parameters stacked under one key.
public struct PlannedStorageTensor {
    public var key: String
    public var dtype: DType
    public var shape: [Int]
    public var parameters: [Int]
    public var chunks: [PlannedChunk]
}

/// Everything `import` will do, decided before any byte moves: every Megatron parameter with its HF
/// sources and transform, every storage tensor with its chunks and ranks. `plan` prints it; `import`
/// executes it.
public final class ImportPlan {
    public let source: HFCheckpoint
    public let context: ModelContext
    /// Where each parameter lives at the requested layout (stages, expert ranks, writing ranks).
    public let placement: RankPlacement
    public let request: ImportRequest
    public let parameters: [MegatronParameter]
    public let parameterDTypes: [DType]
    public let extraStates: [ExtraStateObject]
    public let storage: [PlannedStorageTensor]
    /// HF tensors deliberately left out (`--allow-unused`).
    public let skipped: [String]

    public init(source: HFCheckpoint, request: ImportRequest) throws {
        if request.format == .legacy && request.commonState == .dcp {
            throw BridgeError(.request, "the common state goes into the DCP only for torch_dist; legacy rank files carry theirs inside",
                              key: "common_state", hint: "drop --common-state dcp, or write --format torch_dist")
        }
        if request.format == .fsdpDTensor {
            let l = request.layout
            guard l.tp == 1, l.pp == 1, l.ep == 1, l.etp == 1 else {
                throw BridgeError(.request, "fsdp_dtensor checkpoints hold whole tensors; a parallel layout (\(l)) does not apply",
                                  hint: "drop --tp/--pp/--ep/--etp: Megatron FSDP reshards an fsdp_dtensor checkpoint on load for any layout")
            }
            guard request.commonState == .file else {
                throw BridgeError(.request, "fsdp_dtensor saves keep args, checkpoint_version and iteration as their own DCP items",
                                  key: "common_state", hint: "drop --common-state dcp")
            }
        }
        self.source = source
        self.request = request
        let expertLayout = try source.detectExpertLayout()
        context = try ModelContext(table: source.table, hfConfig: source.config, visionLayout: request.visionLayout,
                                   expertLayout: expertLayout, paddedVocab: { request.layout.paddedVocab($0) })
        try request.layout.validate(language: context.language, vision: context.vision,
                                    visionSharded: context.visionLayout == .megatron)
        // Legacy rank files are named by TP, PP and EP only: an expert TP other than TP (or 1) has no folder.
        if request.format == .legacy, request.layout.etp != request.layout.tp, request.layout.etp != 1 {
            throw BridgeError(.layout, "the legacy format needs ETP equal to TP or 1 (got TP \(request.layout.tp), ETP \(request.layout.etp))",
                              hint: "use --format torch_dist, or --etp \(request.layout.tp)")
        }
        placement = try RankPlacement(layout: request.layout, language: context.language)
        parameters = try ParameterBuilder.parameters(context)
        extraStates = try ParameterBuilder.extraStates(context)
        skipped = try Self.account(parameters, source: source, allowUnused: request.allowUnused)
        parameterDTypes = try parameters.map { p in
            let types = Set(p.hfNames.values.compactMap { source.weights.entry($0)?.dtype })
            guard types.count == 1, let t = types.first else {
                throw BridgeError(.shape, "the HF sources of '\(p.name)' have different dtypes: \(types.map(\.rawValue).sorted())",
                                  key: p.name, hint: "pass --dtype to cast them to one")
            }
            if let cast = request.dtype, cast != t, !(cast.isConvertibleFloat && t.isConvertibleFloat) {
                throw BridgeError(.request, "cannot cast \(t) to \(cast)", key: p.name)
            }
            return request.dtype ?? t
        }
        storage = try Self.storageTensors(parameters, dtypes: parameterDTypes, placement: placement)
    }

    /// Strict accounting: every HF tensor consumed (unless allowed), every needed one present, every shape
    /// as the config says. All problems are gathered into one error listing the keys.
    private static func account(_ params: [MegatronParameter], source: HFCheckpoint, allowUnused: KeyFilter) throws -> [String] {
        var needed = [String: [Int]]()
        for p in params { for (role, n) in p.hfNames { needed[n] = p.hfShapes[role] } }
        let present = Set(source.weights.names)
        let missing = needed.keys.filter { !present.contains($0) }.sorted(by: naturalLess)
        if !missing.isEmpty {
            throw BridgeError(.missingKeys, "\(missing.count) tensor(s) the config requires are missing: \(list(missing))",
                              file: source.path, key: missing[0], hint: "the checkpoint is incomplete, or config.json does not belong to it")
        }
        var unused = [String](), skipped = [String]()
        for n in source.weights.names where needed[n] == nil {
            if allowUnused.allows(n) { skipped.append(n) } else { unused.append(n) }
        }
        if !unused.isEmpty {
            throw BridgeError(.unusedKeys, "\(unused.count) tensor(s) are not used by the \(source.table.family) mapping: \(list(unused))",
                              file: source.path, key: unused[0],
                              hint: "nothing is skipped silently; pass --allow-unused PATTERN to leave them out on purpose")
        }
        for (n, shape) in needed.sorted(by: { naturalLess($0.key, $1.key) }) {
            let actual = source.weights.entry(n)!.shape
            guard actual == shape else {
                throw BridgeError(.shape, "shape \(Shape.describe(actual)) does not match \(Shape.describe(shape)) implied by config.json",
                                  file: source.weights.file(of: n)?.path, key: n,
                                  hint: "check that config.json belongs to these weights")
            }
        }
        return skipped
    }

    static func list(_ names: [String], limit: Int = 8) -> String {
        names.count <= limit ? names.joined(separator: ", ") : names.prefix(limit).joined(separator: ", ") + ", … (\(names.count - limit) more)"
    }

    private static func storageTensors(_ params: [MegatronParameter], dtypes: [DType], placement r: RankPlacement) throws -> [PlannedStorageTensor] {
        var groups = [String: [Int]]()
        for (i, p) in params.enumerated() { groups[p.storage.key, default: []].append(i) }
        var out = [PlannedStorageTensor]()
        for (key, members) in groups {
            let first = params[members[0]]
            let shape = first.storage.prefixCounts + first.shape
            for m in members where params[m].shape != first.shape || dtypes[m] != dtypes[members[0]] {
                throw BridgeError(.shape, "'\(params[m].name)' and '\(first.name)' share the storage key but differ in shape or dtype", key: key)
            }
            var chunks = [PlannedChunk]()
            for m in members {
                let p = params[m]
                for s in try r.shards(of: p) {
                    let box = Box(offsets: p.storage.prefixOffsets + s.box.offsets,
                                  sizes: [Int](repeating: 1, count: p.storage.prefix.count) + s.box.sizes)
                    chunks.append(PlannedChunk(box: box, rank: r.writer(of: p, shard: s), parameter: m, shard: s))
                }
            }
            if let problem = tilingProblem(of: chunks.map(\.box), covering: shape) {
                throw BridgeError(.missingKeys, "storage tensor is not fully covered: \(problem)", key: key,
                                  hint: "a mapping entry is missing for some layer or expert")
            }
            out.append(PlannedStorageTensor(key: key, dtype: dtypes[members[0]], shape: shape, parameters: members, chunks: chunks))
        }
        return out.sorted { naturalLess($0.key, $1.key) }
    }

    // MARK: sources

    /// A Megatron parameter composed from its HF tensors (lazily: nothing is read until a writer asks).
    public func parameterSource(_ i: Int) throws -> ComposedTensor {
        let p = parameters[i]
        var parts = [ComposedTensor.Part]()
        for c in p.correspondences {
            let name = p.hfNames[c.role]!
            let hf = try BridgeError.during("cannot read HF tensor '\(name)' for Megatron parameter '\(p.name)'", key: name) {
                try source.weights.tensor(name)
            }
            parts.append(ComposedTensor.Part(box: c.megatronBox, source: hf, sourceOrigin: c.hfOrigin, axisMap: c.axisMap))
        }
        parts += p.zeroBoxes.map(ComposedTensor.Part.zeros)
        let t = ComposedTensor(dtype: parameterDTypes[i], shape: p.shape, parts: parts)
        try BridgeError.during("the HF tensors do not fill Megatron parameter '\(p.name)'", key: p.name) { try t.validate(name: p.name) }
        return t
    }

    /// A storage tensor: its parameters placed along the prepended axes.
    public func storageSource(_ s: PlannedStorageTensor) throws -> ComposedTensor {
        var parts = [ComposedTensor.Part]()
        for m in s.parameters {
            let p = parameters[m]
            parts.append(p.storage.part(placing: try parameterSource(m), shape: p.shape))
        }
        return ComposedTensor(dtype: s.dtype, shape: s.shape, parts: parts)
    }

    /// Bytes of tensor data to write (each chunk once).
    public var totalBytes: Int {
        storage.reduce(0) { $0 + (Shape.byteCount($1.shape, $1.dtype) ?? 0) }
    }
}
