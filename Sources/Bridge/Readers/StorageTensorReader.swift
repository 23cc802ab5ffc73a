import SafeTensors
import TensorCore

/// Reads Megatron parameters from a store of global tensors under their torch_dist storage keys
/// (a torch_dist checkpoint, or any file of such tensors): each parameter is a region of its storage
/// tensor at the parameter's prepended-axis offsets.
public final class StorageTensorReader: MegatronParameterReader {
    public let store: TensorStore
    public let path: String
    private let names: Set<String>

    public init(store: TensorStore, path: String) {
        self.store = store
        self.path = path
        names = Set(store.tensorNames)
    }

    public var storedTensorNames: [String] { store.tensorNames.sorted(by: naturalLess) }

    public func vocabularyRows(of p: MegatronParameter) throws -> Int? {
        guard names.contains(p.storage.key) else { return nil }
        let s = try stored(p).shape
        return s.count > p.storage.prefix.count ? s[p.storage.prefix.count] : nil
    }

    public func visionLayout(candidates: [(VisionLayout, [MegatronParameter])]) throws -> VisionLayout? {
        var matching = [VisionLayout]()
        var anySpecific = false
        for (layout, params) in candidates {
            let specific = params.filter { $0.rule.layout != nil }
            anySpecific = anySpecific || !specific.isEmpty
            if !specific.isEmpty && specific.allSatisfy({ names.contains($0.storage.key) }) { matching.append(layout) }
        }
        if !anySpecific { return nil }
        guard matching.count == 1 else {
            throw BridgeError(.missingKeys, matching.isEmpty ? "the checkpoint's vision tower matches no known layout"
                              : "the checkpoint's vision tower matches several layouts (\(matching.map(\.rawValue)))",
                              file: path, hint: "known layouts: megatron (vision_model.decoder.layers.*) and hf (vision_model.blocks.*)")
        }
        return matching[0]
    }

    public func source(of p: MegatronParameter, dtype: DType?) throws -> TensorSource {
        guard names.contains(p.storage.key) else {
            throw BridgeError(.missingKeys, "the checkpoint has no tensor '\(p.storage.key)' for parameter '\(p.name)'",
                              file: path, key: p.storage.key, hint: "the checkpoint is incomplete or of another model")
        }
        let t = try stored(p)
        let want = p.storage.prefixCounts + p.shape
        guard t.shape == want else {
            throw BridgeError(.shape, "stored shape \(Shape.describe(t.shape)) does not match \(Shape.describe(want)) implied by the config",
                              file: path, key: p.storage.key, hint: "check that the HF config belongs to this checkpoint")
        }
        return ComposedTensor(dtype: dtype ?? t.dtype, shape: p.shape, parts: [p.storage.part(readingFrom: t, shape: p.shape)])
    }

    public func storedNames(of p: MegatronParameter) -> [String] { [p.storage.key] }

    /// The stored tensor `p` is a region of; a failure to read it (a bad chunk) names the parameter.
    private func stored(_ p: MegatronParameter) throws -> TensorSource {
        try BridgeError.during("cannot read Megatron parameter '\(p.name)' from its stored tensor '\(p.storage.key)'",
                               file: path, key: p.storage.key) { try store.tensorSource(p.storage.key) }
    }
}
