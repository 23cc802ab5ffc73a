import TensorCore
import TorchFormats

/// Any Megatron checkpoint as global tensors under storage keys: torch_dist directly (no config needed),
/// legacy reassembled through `MegatronCheckpoint`, which needs the HF config (the embedded copy,
/// run_config.yaml, or `explicitConfig`).
public enum MegatronStorageView {
    public static func open(_ path: String, explicitConfig: String? = nil,
                            mappings: String = MappingTableLoader.defaultDirectory()) throws -> (TensorStore, String) {
        let source = try MegatronSource.open(path)
        if case let .torchDist(c) = source, explicitConfig == nil { return (TorchDistStore(c), c.directory) }
        if case let .fsdpDTensor(s) = source { return (s, s.checkpoint.directory) }
        let checkpoint = try MegatronCheckpoint(source: source, hfConfig: explicitConfig, mappings: mappings)
        return (try checkpoint.storageView(), checkpoint.iterationDirectory)
    }
}
