import TensorCore
import TorchFormats

/// A Megatron checkpoint opened for export or verification, whatever its format.
public enum MegatronSource {
    case torchDist(TorchDistCheckpoint)
    case legacy(LegacyMegatronCheckpoint)
    /// Megatron FSDP's `fsdp_dtensor`, seen through its torch_dist view.
    case fsdpDTensor(FSDPDTensorStore)

    public static func open(_ path: String) throws -> MegatronSource {
        switch try CheckpointFormat.detect(path) {
        // Conversions and forward passes read every byte anyway: each zip entry's CRC-32 is checked as it
        // is opened, so a flipped byte stops the command instead of flowing into the output.
        case .torchDist:
            return .torchDist(try BridgeError.during("cannot open the torch_dist checkpoint \(path)") {
                try TorchDistCheckpoint(path: path, verifyCRC: true, asMegatron: true)
            })
        case .legacy:
            return .legacy(try BridgeError.during("cannot open the legacy checkpoint \(path)") {
                try LegacyMegatronCheckpoint(path: path, verifyCRC: true)
            })
        case .fsdpDTensor:
            return .fsdpDTensor(try FSDPDTensorStore(try BridgeError.during("cannot open the fsdp_dtensor checkpoint \(path)") {
                try TorchDistCheckpoint(path: path, verifyCRC: true)
            }))
        default:
            throw BridgeError(.unknownFormat, "not a Megatron checkpoint", file: path,
                              hint: "expected a torch_dist or fsdp_dtensor folder (.metadata) or a legacy folder (mp_rank_*)")
        }
    }

    /// The folder of the iteration being read.
    public var iterationDirectory: String {
        switch self {
        case let .torchDist(c): return c.directory
        case let .legacy(c): return c.directory
        case let .fsdpDTensor(s): return s.checkpoint.directory
        }
    }

    public var format: CheckpointFormat {
        switch self {
        case .torchDist: return .torchDist
        case .legacy: return .legacy
        case .fsdpDTensor: return .fsdpDTensor
        }
    }

    /// Reads Megatron parameters out of the checkpoint.
    public func reader(hfConfig: HFConfig, table: MappingTable) throws -> MegatronParameterReader {
        switch self {
        case let .torchDist(c): return StorageTensorReader(store: TorchDistStore(c), path: c.directory)
        case let .legacy(c): return try LegacyParameterReader(checkpoint: c, hfConfig: hfConfig, table: table)
        case let .fsdpDTensor(s): return StorageTensorReader(store: s, path: s.checkpoint.directory)
        }
    }
}
