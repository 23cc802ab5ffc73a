import SafeTensors
import TensorCore

/// An HF checkpoint opened for conversion: its weights, its config and the family table for it.
/// Fine-grained FP8 weights are seen dequantized, their scales consumed (`HFTensors`).
public struct HFCheckpoint {
    public let path: String
    public let weights: HFTensors
    public let config: HFConfig
    public let table: MappingTable

    /// - Parameter dequantizeTo: the dtype FP8 weights are dequantized to (bf16 unless `--dtype` asks).
    public init(path: String, mappings: String = MappingTableLoader.defaultDirectory(), dequantizeTo: DType = .bf16) throws {
        guard FileSystem.isDirectory(path) else {
            throw BridgeError(.request, "an HF checkpoint is a folder with config.json and safetensors", file: path)
        }
        self.path = path
        config = try HFConfig(directory: path)
        table = try MappingTableLoader.table(for: config, directory: mappings)
        let stored = try BridgeError.during("cannot open the safetensors of the HF checkpoint \(path)") {
            try SafeTensorsCheckpoint(path: path)
        }
        weights = try HFTensors(checkpoint: stored, config: config, dequantizeTo: dequantizeTo)
    }

    public func detectExpertLayout() throws -> HFExpertLayout {
        try ExpertLayoutDetector.detect(table: table, hfConfig: config, names: weights.names) { weights.entry($0)?.shape }
    }
}
