import SafeTensors
import TensorCore

/// The HF expert layout `export` writes (`--expert-layout`).
public enum ExpertLayoutChoice: String, Sendable, CaseIterable {
    /// Fused `gate_up_proj` [E,H,2I] and `down_proj` [E,I,H], as the Hub checkpoints store them.
    case hub
    /// Fused in transformers-5 orientation, [E,2I,H] and [E,H,I].
    case v5
    /// One tensor per expert and projection.
    case perExpert = "per-expert"

    var layout: HFExpertLayout {
        switch self {
        case .hub: return .fused(.hub)
        case .v5: return .fused(.v5)
        case .perExpert: return .perExpert
        }
    }
}

/// Gives the tensor of each Megatron parameter from a Megatron checkpoint, whatever its format and layout.
public protocol MegatronParameterReader {
    /// Where the checkpoint is, for errors.
    var path: String { get }
    /// Names of every stored tensor (torch_dist keys, or `rank/name` for legacy files), for accounting.
    var storedTensorNames: [String] { get }
    /// The rows of the stored vocabulary (padded vocabularies are cut back to the HF vocabulary on export).
    func vocabularyRows(of parameter: MegatronParameter) throws -> Int?
    /// The vision layout the checkpoint uses, nil when it has no vision tower.
    func visionLayout(candidates: [(VisionLayout, [MegatronParameter])]) throws -> VisionLayout?
    /// The tensor of one parameter; records which stored tensors it consumed.
    func source(of parameter: MegatronParameter, dtype: DType?) throws -> TensorSource
    /// Stored tensors that no parameter consumed.
    func unconsumed(by parameters: [MegatronParameter]) -> [String]
}

/// What the user asked `export` for.
public struct ExportRequest {
    public var expertLayout: ExpertLayoutChoice
    public var dtype: DType?
    public var maxShardSize: Int
    public var allowUnused: KeyFilter

    public init(expertLayout: ExpertLayoutChoice = .hub, dtype: DType? = nil,
                maxShardSize: Int = SafeTensorsWriter.defaultMaxShardSize, allowUnused: [String] = []) {
        self.expertLayout = expertLayout
        self.dtype = dtype
        self.maxShardSize = maxShardSize
        self.allowUnused = KeyFilter(allowUnused)
    }
}

extension ModelContext {
    /// The context of a stored Megatron checkpoint: the vision layout is the one whose parameters the
    /// checkpoint holds, and the vocabulary is as many rows as it stores (padded ones included); the
    /// parallel layout does not matter, since parameters are read whole.
    public static func reading(_ reader: MegatronParameterReader, table: MappingTable, hfConfig: HFConfig,
                               expertLayout: HFExpertLayout) throws -> ModelContext {
        var candidates = [(VisionLayout, [MegatronParameter])]()
        for l in table.visionLayouts {
            let c = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: l, expertLayout: expertLayout, layout: ParallelLayout())
            candidates.append((l, try ParameterBuilder.parameters(c)))
        }
        let vision = try reader.visionLayout(candidates: candidates)
        let probe = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: expertLayout, layout: ParallelLayout())
        var rows: Int?
        for p in try ParameterBuilder.parameters(probe) where p.rule.transform == .vocab {
            if let r = try reader.vocabularyRows(of: p) { rows = max(rows ?? 0, r) }
        }
        return try ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: expertLayout,
                                layout: ParallelLayout(), paddedVocab: rows ?? probe.language.vocabSize)
    }
}

/// One HF tensor to write: composed from regions of Megatron parameters.
public struct PlannedHFTensor {
    public var name: String
    public var shape: [Int]
    /// (parameter index, correspondence) pairs filling it.
    public var parts: [(Int, Correspondence)]
}

/// Everything `export` will do: every HF tensor with the Megatron parameters and regions it comes from.
public final class ExportPlan {
    public let reader: MegatronParameterReader
    public let context: ModelContext
    public let request: ExportRequest
    public let parameters: [MegatronParameter]
    public let hfTensors: [PlannedHFTensor]
    public let skipped: [String]
    private var sources: [Int: TensorSource] = [:]

    public init(reader: MegatronParameterReader, hfConfig: HFConfig, table: MappingTable, request: ExportRequest) throws {
        self.reader = reader
        self.request = request
        context = try ModelContext.reading(reader, table: table, hfConfig: hfConfig, expertLayout: request.expertLayout.layout)
        parameters = try ParameterBuilder.parameters(context)
        var byName = [String: PlannedHFTensor]()
        for (i, p) in parameters.enumerated() {
            for c in p.correspondences {
                let n = p.hfNames[c.role]!
                byName[n, default: PlannedHFTensor(name: n, shape: p.hfShapes[c.role]!, parts: [])].parts.append((i, c))
            }
        }
        hfTensors = byName.values.sorted { naturalLess($0.name, $1.name) }
        // Account for every stored tensor before anything is written.
        for (i, p) in parameters.enumerated() { sources[i] = try reader.source(of: p, dtype: request.dtype) }
        let left = reader.unconsumed(by: parameters)
        let unused = left.filter { !request.allowUnused.allows($0) }
        if !unused.isEmpty {
            throw BridgeError(.unusedKeys, "\(unused.count) stored tensor(s) are not used by the \(table.family) mapping: \(ImportPlan.list(unused))",
                              file: reader.path, key: unused[0],
                              hint: "nothing is skipped silently; pass --allow-unused PATTERN to leave them out on purpose")
        }
        skipped = left.filter { request.allowUnused.allows($0) }
    }

    /// One HF tensor, composed lazily from the checkpoint.
    public func hfSource(_ t: PlannedHFTensor) throws -> ComposedTensor {
        var parts = [ComposedTensor.Part]()
        var dtype: DType?
        for (i, c) in t.parts {
            let src = sources[i]!
            dtype = dtype ?? src.dtype
            parts.append(ComposedTensor.Part(box: c.hfBox, source: src, sourceOrigin: c.megatronBox.offsets, axisMap: c.inverseAxisMap))
        }
        let composed = ComposedTensor(dtype: dtype ?? .f32, shape: t.shape, parts: parts)
        do {
            try composed.validate(name: t.name)
        } catch {
            throw BridgeError(.missingKeys, "HF tensor would not be fully produced", key: t.name,
                              hint: "the checkpoint lacks part of the parameters it is made from", underlying: error)
        }
        return composed
    }

    public var totalBytes: Int { hfTensors.reduce(0) { $0 + (Shape.byteCount($1.shape, request.dtype ?? sources[$1.parts[0].0]!.dtype) ?? 0) } }
}
