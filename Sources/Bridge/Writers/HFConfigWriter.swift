import Foundation
import TensorCore

/// Small edits to HF configs.
public enum HFConfigWriter {
    /// The torch dtype name transformers writes for `d`.
    public static func torchDTypeName(_ d: DType) -> String {
        switch d {
        case .bf16: return "bfloat16"
        case .f16: return "float16"
        case .f64: return "float64"
        default: return "float32"
        }
    }

    /// The config with its `dtype` / `torch_dtype` fields (top level and sub-configs) set to `d`.
    public static func settingDType(_ config: JSONValue, to d: DType) -> JSONValue {
        guard case let .object(members) = config else { return config }
        return .object(members.map { k, v in
            if k == "dtype" || k == "torch_dtype", v.stringValue != nil { return (k, .string(torchDTypeName(d))) }
            if case .object = v, k.hasSuffix("_config") { return (k, settingDType(v, to: d)) }
            return (k, v)
        })
    }

    /// The config without `quantization_config` (what dequantized weights need).
    public static func removingQuantization(_ config: JSONValue) -> JSONValue {
        guard case let .object(members) = config else { return config }
        return .object(members.filter { $0.0 != "quantization_config" })
    }

    /// The config with `quantization_config` set to `q` (replacing any), as the Hub's FP8 releases carry it.
    public static func settingQuantization(_ config: JSONValue, to q: JSONValue) -> JSONValue {
        guard case let .object(members) = removingQuantization(config) else { return config }
        return .object(members + [("quantization_config", q)])
    }
}
