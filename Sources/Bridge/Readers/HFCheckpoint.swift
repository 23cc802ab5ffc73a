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
        table = try MappingTableLoader.table(for: config, directory: mappings)
        weights = try SafeTensorsCheckpoint(path: path)
    }

    public func detectExpertLayout() throws -> HFExpertLayout {
        try ExpertLayoutDetector.detect(table: table, hfConfig: config, names: weights.names) { weights.entry($0)?.shape }
    }
}
