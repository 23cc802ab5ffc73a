import SafeTensors
import TensorCore

/// The tensors of an HF folder as conversion and the forward pass see them: the stored ones, except that
/// in a fine-grained FP8 checkpoint (`quantization_config.quant_method == "fp8"`) every F8_E4M3 weight
/// is seen dequantized (see `FP8DequantizedTensor`) and its `…_scale_inv` is consumed with it, so the
/// scales are neither listed nor left unused. Pairing is strict: a scale without its FP8 weight, an FP8
/// weight without its scale, or an FP8 weight in a module the config says is not converted is an error.
public final class HFTensors: TensorStore {
    public let checkpoint: SafeTensorsCheckpoint
    public let quantization: FP8QuantizationConfig?
    /// The dtype FP8 weights dequantize to.
    public let dequantizedDType: DType
    /// Every name, scales left out.
    public let names: [String]
    /// Scale tensor names, consumed by their weights.
    public let scaleNames: [String]
    private let quantizedNames: Set<String>
    private let scaleSet: Set<String>

    /// - Parameter dequantizeTo: the dtype FP8 weights come out in (bf16 as the Hub's releases' `dtype`;
    ///   fp32 for the exact products).
    public init(checkpoint: SafeTensorsCheckpoint, config: HFConfig, dequantizeTo: DType = .bf16) throws {
        self.checkpoint = checkpoint
        quantization = try FP8QuantizationConfig(config: config)
        dequantizedDType = dequantizeTo
        var names = [String](), scales = [String](), fp8 = Set<String>()
        for n in checkpoint.names {
            let e = checkpoint.entry(n)!
            let file = checkpoint.file(of: n)?.path
            if let w = FP8QuantizationConfig.weightName(ofScale: n), quantization != nil {
                guard checkpoint.entry(w)?.dtype == .f8e4m3 else {
                    throw BridgeError(.unusedKeys, "FP8 scale '\(n)' has no F8_E4M3 weight '\(w)' next to it", file: file, key: n,
                                      hint: "the checkpoint is incomplete or mixes quantized and dequantized shards")
                }
                scales.append(n)
                continue
            }
            names.append(n)
            guard e.dtype == .f8e4m3 else { continue }
            guard let q = quantization else {
                throw BridgeError(.config, "'\(n)' is F8_E4M3 but config.json has no quantization_config", file: file, key: n,
                                  hint: "an FP8 checkpoint's config.json says quant_method \"fp8\" and its weight_block_size")
            }
            let s = FP8QuantizationConfig.scaleName(of: n)
            guard checkpoint.contains(s) else {
                throw BridgeError(.missingKeys, "FP8 weight '\(n)' has no scale '\(s)'", file: file, key: n,
                                  hint: "every F8_E4M3 weight needs its per-block weight_scale_inv")
            }
            let se = checkpoint.entry(s)!
            try FP8DequantizedTensor.check(quantized: (e.dtype, e.shape), scales: (se.dtype, se.shape), block: (q.blockRows, q.blockCols),
                                           name: n, file: file)
            guard q.converts(module: FP8QuantizationConfig.module(of: n)) else {
                throw BridgeError(.config, "'\(n)' is F8_E4M3, but quantization_config.modules_to_not_convert leaves its module unquantized",
                                  file: config.path, key: n, hint: "config.json does not belong to these weights")
            }
            fp8.insert(n)
        }
        self.names = names
        scaleNames = scales
        quantizedNames = fp8
        scaleSet = Set(scales)
    }

    public var directory: String { checkpoint.directory }

    public func contains(_ name: String) -> Bool { checkpoint.contains(name) && !scaleSet.contains(name) }

    /// The entry of `name`, with the dequantized dtype for FP8 weights.
    public func entry(_ name: String) -> SafeTensorsEntry? {
        guard var e = checkpoint.entry(name) else { return nil }
        if quantizedNames.contains(name) { e.dtype = dequantizedDType }
        return e
    }

    public func file(of name: String) -> SafeTensorsFile? { checkpoint.file(of: name) }

    public func isQuantized(_ name: String) -> Bool { quantizedNames.contains(name) }

    /// A lazy view of `name`: the stored tensor, or the dequantized one for FP8 weights.
    public func tensor(_ name: String) throws -> TensorSource {
        let stored = try checkpoint.tensor(name)
        guard quantizedNames.contains(name), let q = quantization else { return stored }
        return try FP8DequantizedTensor(quantized: stored, scales: try checkpoint.tensor(FP8QuantizationConfig.scaleName(of: name)),
                                        block: (q.blockRows, q.blockCols), dtype: dequantizedDType, name: name, file: checkpoint.file(of: name)?.path)
    }

    public var tensorNames: [String] { names }
    public func tensorSource(_ name: String) throws -> TensorSource { try tensor(name) }
    public var origin: String? { directory }
}
