import TensorCore
import TorchFormats

/// A torch_dist checkpoint as a store of global tensors (chunks reassembled lazily, opened once per key).
public final class TorchDistStore: TensorStore {
    public let checkpoint: TorchDistCheckpoint
    private var cache = [String: TiledTensor]()

    public init(_ checkpoint: TorchDistCheckpoint) { self.checkpoint = checkpoint }

    public convenience init(path: String) throws {
        self.init(try TorchDistCheckpoint(path: path))
    }

    public var tensorNames: [String] { checkpoint.tensorKeys }
    public var origin: String? { checkpoint.directory }

    public func tensorSource(_ name: String) throws -> TensorSource {
        if let t = cache[name] { return t }
        let t = try checkpoint.tensor(name)
        cache[name] = t
        return t
    }
}
