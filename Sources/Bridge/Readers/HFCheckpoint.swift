import SafeTensors
import TensorCore

/// An HF checkpoint opened for conversion: its weights, its config and the family table for it.
public struct HFCheckpoint {
    public let path: String
    public let weights: SafeTensorsCheckpoint
    public let config: HFConfig
    public let table: MappingTable

    public init(path: String, mappings: String = MappingTableLoader.defaultDirectory()) throws {
        guard FileSystem.isDirectory(path) else {
            throw BridgeError(.request, "an HF checkpoint is a folder with config.json and safetensors", file: path)
        }
        self.path = path
        config = try HFConfig(directory: path)
        guard let arch = config.architectures.first else {
            throw BridgeError(.config, "config.json has no 'architectures'", file: config.path,
                              hint: "add e.g. \"architectures\": [\"Qwen3VLForConditionalGeneration\"]")
        }
        table = try MappingTableLoader.table(forArchitecture: arch, directory: mappings)
        weights = try SafeTensorsCheckpoint(path: path)
    }

    public func detectExpertLayout() throws -> HFExpertLayout {
        try ExpertLayoutDetector.detect(table: table, hfConfig: config, names: weights.names) { weights.entry($0)?.shape }
    }
}
