import SafeTensors
import TensorCore
import TorchFormats

/// A legacy checkpoint seen as global tensors under torch_dist storage keys (each reassembled from the
/// ranks' local shards), so it can be compared with, or read like, a torch_dist checkpoint.
public final class LegacyStorageStore: TensorStore {
    public let tensorNames: [String]
    public let origin: String?
    private let tensors: [String: TensorSource]

    public init(checkpoint: LegacyMegatronCheckpoint, hfConfig: HFConfig, table: MappingTable) throws {
        origin = checkpoint.directory
        let reader = try LegacyParameterReader(checkpoint: checkpoint, hfConfig: hfConfig, table: table)
        // The HF expert layout does not change the Megatron side; any will do.
        let c = try ModelContext.reading(reader, table: table, hfConfig: hfConfig, expertLayout: .fused(.hub))
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
                parts.append(p.storage.part(placing: src, shape: p.shape))
            }
            let t = ComposedTensor(dtype: dtype ?? .f32, shape: ps[0].storage.prefixCounts + ps[0].shape, parts: parts)
            try t.validate(name: key)
            out[key] = t
        }
        let left = try reader.unconsumed(by: params)
        guard left.isEmpty else {
            throw BridgeError(.unusedKeys, "\(left.count) stored tensor(s) are not part of the model: \(ImportPlan.list(left))",
                              file: checkpoint.directory, key: left[0])
        }
        tensors = out
        tensorNames = out.keys.sorted(by: naturalLess)
    }

    public func tensorSource(_ name: String) throws -> TensorSource {
        guard let t = tensors[name] else { throw BridgeError(.missingKeys, "no such tensor", key: name) }
        return t
    }
}
