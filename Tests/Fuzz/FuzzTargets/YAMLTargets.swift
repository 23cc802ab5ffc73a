import Bridge
import TensorCore

extension FuzzTargets {
    /// The bytes are a mapping table (`Mappings/*.yaml`); its includes resolve to the real fragments.
    public static let yamlTable = FuzzTarget(
        name: "yaml-table", summary: "MappingTableLoader.load (a mapping table YAML with includes)"
    ) { bytes in
        let path = ScratchFolder.shared.write(bytes, as: "table.yaml")
        _ = try MappingTableLoader.load(path: path)
    }

    /// The bytes are Megatron-Bridge's `run_config.yaml`; the config rebuilt from it is planned like
    /// an import would plan it.
    public static let runConfig = FuzzTarget(
        name: "run-config", summary: "HFConfigRecovery.fromRunConfig (run_config.yaml), then the config → plan checks"
    ) { bytes in
        let path = ScratchFolder.shared.write(bytes, as: "run_config.yaml")
        let config = try HFConfigRecovery.fromRunConfig(path: path, tables: { ConfigPlanning.tables })
        try ConfigPlanning.plan(config)
    }
}
