import SafeTensors
import TensorCore

/// Global (TP/EP-independent) Megatron-Core tensors by their storage keys, e.g.
/// `language_model.decoder.layers.self_attention.linear_qkv.weight` [L, (nh+2ng)·hd, H].
///
/// Back it with a torch_dist reader (DCP keys, chunks assembled lazily), a legacy-checkpoint reader, or
/// (in tests) a safetensors file holding those global tensors under the same keys.
public protocol MegatronTensorStore {
    /// Every tensor key in the store.
    var keys: [String] { get }
    /// The global tensor stored under `key`.
    func tensor(_ key: String) throws -> TensorSource
    /// Where the tensors come from, for error messages.
    var origin: String? { get }
}

extension MegatronTensorStore {
    public var origin: String? { nil }
}

/// A `MegatronTensorStore` over a safetensors file or folder whose names are Megatron storage keys
/// (the oracle's `megatron_global_tensors.safetensors`).
public final class SafeTensorsMegatronStore: MegatronTensorStore {
    public let checkpoint: SafeTensorsCheckpoint

    public init(checkpoint: SafeTensorsCheckpoint) { self.checkpoint = checkpoint }

    /// Opens a safetensors file or folder.
    public convenience init(path: String) throws { self.init(checkpoint: try SafeTensorsCheckpoint(path: path)) }

    public var keys: [String] { checkpoint.names }
    public func tensor(_ key: String) throws -> TensorSource { try checkpoint.tensor(key) }
    public var origin: String? { checkpoint.directory }
}
