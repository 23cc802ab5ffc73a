import TensorCore
import TorchFormats

/// A legacy checkpoint seen as global tensors under torch_dist storage keys (each reassembled from the
/// ranks' local shards), so it can be compared with, or read like, a torch_dist checkpoint.
public final class LegacyStorageStore: TensorStore {
    public let tensorNames: [String]
    private let tensors: [String: TensorSource]

    public init(checkpoint: LegacyMegatronCheckpoint, hfConfig: HFConfig, table: MappingTable) throws {
        let reader = try LegacyParameterReader(checkpoint: checkpoint, hfConfig: hfConfig, table: table)
        var candidates = [(VisionLayout, [MegatronParameter])]()
        for l in table.visionLayouts {
            let c = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: l, expertLayout: .fused(.hub), layout: ParallelLayout())
            candidates.append((l, try ParameterBuilder.parameters(c)))
        }
        let vision = try reader.visionLayout(candidates: candidates)
        let probe = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: .fused(.hub), layout: ParallelLayout())
        var rows: Int?
        for p in try ParameterBuilder.parameters(probe) where p.rule.transform == .vocab { rows = max(rows ?? 0, try reader.vocabularyRows(of: p) ?? 0) }
        let c = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: .fused(.hub),
                                 layout: ParallelLayout(), paddedVocab: rows)
        let params = try ParameterBuilder.parameters(c)
        var groups = [String: [MegatronParameter]]()
        for p in params { groups[p.storage.key, default: []].append(p) }
        var out = [String: TensorSource]()
        for (key, ps) in groups {
            var parts = [ComposedTensor.Part]()
            var dtype: DType?
            for p in ps {
                let src = try reader.source(of: p, dtype: nil)
                dtype = dtype ?? src.dtype
                let n = p.storage.prefix.count
                parts.append(ComposedTensor.Part(box: Box(offsets: p.storage.prefixOffsets + [Int](repeating: 0, count: p.shape.count),
                                                          sizes: [Int](repeating: 1, count: n) + p.shape),
                                                 source: src, sourceOrigin: [Int](repeating: 0, count: p.shape.count),
                                                 axisMap: [Int?](repeating: nil, count: n) + (0..<p.shape.count).map { $0 }))
            }
            let t = ComposedTensor(dtype: dtype ?? .f32, shape: ps[0].storage.prefixCounts + ps[0].shape, parts: parts)
            try t.validate(name: key)
            out[key] = t
        }
        let left = reader.unconsumed(by: params)
        guard left.isEmpty else {
            throw BridgeError(.unusedKeys, "\(left.count) stored tensor(s) are not part of the model: \(ImportPlan.list(left))",
                              file: checkpoint.directory, key: left[0])
        }
        tensors = out
        tensorNames = out.keys.sorted(by: naturalLessName)
    }

    public func tensorSource(_ name: String) throws -> TensorSource {
        guard let t = tensors[name] else { throw BridgeError(.missingKeys, "no such tensor", key: name) }
        return t
    }
}

/// Any Megatron checkpoint as global tensors under storage keys (torch_dist directly; legacy reassembled,
/// which needs the HF config: the embedded copy, run_config.yaml, or `explicitConfig`).
public enum MegatronStorageView {
    public static func open(_ path: String, explicitConfig: String? = nil,
                            mappings: String = MappingTableLoader.defaultDirectory()) throws -> (TensorStore, String) {
        switch try MegatronSource.open(path) {
        case let .torchDist(c):
            return (TorchDistStore(c), c.directory)
        case let .legacy(c):
            let found = try HFConfigRecovery.find(iterationDirectory: c.directory, explicit: explicitConfig, mappings: mappings)
            guard let arch = found.config.architectures.first else { throw BridgeError(.config, "config has no architectures", file: found.config.path) }
            let table = try MappingTableLoader.table(forArchitecture: arch, directory: mappings)
            return (try LegacyStorageStore(checkpoint: c, hfConfig: found.config, table: table), c.directory)
        }
    }
}
