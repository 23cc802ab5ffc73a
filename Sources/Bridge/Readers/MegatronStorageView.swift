import SafeTensors
import TensorCore
import TorchFormats

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
