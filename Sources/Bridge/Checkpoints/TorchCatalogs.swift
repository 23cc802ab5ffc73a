import TensorCore

extension TensorCatalog {
    /// torch_dist, legacy and torch.save catalogs (filled once the TorchFormats readers land).
    static func openTorchFormat(_ path: String, format: CheckpointFormat) throws -> TensorCatalog {
        throw BridgeError(.unknownFormat, "\(format.rawValue) checkpoints cannot be read yet", file: path)
    }
}
