import SafeTensors
import TensorCore
import TorchFormats

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
    /// Stored tensors classified as training state (`optimizer.*` ...), not exported.
    public let trainingState: [String]
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
        // Training state (optimizer moments, fp32 master copies, RNG, ...) is never a model weight:
        // it is set apart and reported, not matched against the mapping nor counted as unused.
        let unconsumed = try reader.unconsumed(by: parameters)
        trainingState = unconsumed.filter { TrainingStateKind.classify($0) != nil }
        let left = unconsumed.filter { TrainingStateKind.classify($0) == nil }
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
