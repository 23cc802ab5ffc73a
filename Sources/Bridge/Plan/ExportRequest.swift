import SafeTensors
import TensorCore

/// The HF expert layout `export` writes (`--expert-layout`).
public enum ExpertLayoutChoice: String, Sendable, CaseIterable {
    /// Fused `gate_up_proj` [E,H,2I] and `down_proj` [E,I,H], as the Hub checkpoints store them.
    case hub
    /// Fused in transformers-5 orientation, [E,2I,H] and [E,H,I].
    case v5
    /// One tensor per expert and projection.
    case perExpert = "per-expert"

    var layout: HFExpertLayout {
        switch self {
        case .hub: return .fused(.hub)
        case .v5: return .fused(.v5)
        case .perExpert: return .perExpert
        }
    }
}

/// What the user asked `export` for.
public struct ExportRequest {
    public var expertLayout: ExpertLayoutChoice
    public var dtype: DType?
    public var maxShardSize: Int
    public var allowUnused: KeyFilter
    /// Write fine-grained FP8 (`--quantize fp8-block`): which weights, the block size, the config entry.
    public var quantize: FP8QuantizationConfig?

    public init(expertLayout: ExpertLayoutChoice = .hub, dtype: DType? = nil,
                maxShardSize: Int = SafeTensorsWriter.defaultMaxShardSize, allowUnused: [String] = [],
                quantize: FP8QuantizationConfig? = nil) {
        self.expertLayout = expertLayout
        self.quantize = quantize
        self.dtype = dtype
        self.maxShardSize = maxShardSize
        self.allowUnused = KeyFilter(allowUnused)
    }
}
