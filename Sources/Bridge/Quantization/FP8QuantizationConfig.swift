import Foundation
import TensorCore

/// The `quantization_config` of a fine-grained FP8 HF checkpoint (`quant_method: "fp8"`, the Hub's
/// Qwen3-VL-*-FP8 and DeepSeek-V3 layout): `float8_e4m3fn` weights with one fp32 `scale_inv` per
/// `blockRows × blockCols` block, dynamic activation scaling, and the modules left in bf16.
public struct FP8QuantizationConfig: Equatable, Sendable {
    public var blockRows: Int
    public var blockCols: Int
    /// Module name patterns transformers leaves unquantized (matched as `should_convert_module` does).
    public var modulesToNotConvert: [String]

    /// What the Hub's Qwen3-VL FP8 configs leave unquantized (and `scripts/oracle/make_fp8_fixtures.py`):
    /// embeddings, `lm_head`, the MoE router and the vision tower. Norms and biases are never quantized.
    public static let hubModulesToNotConvert = ["lm_head", "embed_tokens", "model.visual", "mlp.gate"]

    /// The Hub's block size.
    public static let hubBlock = 128

    public init(blockRows: Int = hubBlock, blockCols: Int = hubBlock, modulesToNotConvert: [String] = hubModulesToNotConvert) {
        self.blockRows = blockRows
        self.blockCols = blockCols
        self.modulesToNotConvert = modulesToNotConvert
    }

    /// The FP8 config of `config`, nil when it has no `quantization_config`. Any other quantization
    /// method, format or activation scheme is an error: its tensors would be read wrong.
    public init?(config: HFConfig) throws {
        guard let q = config.json["quantization_config"], !q.isNull else { return nil }
        let file = config.path
        guard q.objectMembers != nil else {
            throw BridgeError(.config, "quantization_config is not an object", file: file, key: "quantization_config")
        }
        let method = q["quant_method"]?.stringValue
        guard method == "fp8" else {
            throw BridgeError(.config, "quantization method '\(method ?? "none")' is not supported", file: file, key: "quantization_config.quant_method",
                              hint: "ckpt-bridge reads fine-grained FP8 (quant_method \"fp8\"); dequantize the checkpoint first")
        }
        if let fmt = q["fmt"], fmt.stringValue != "e4m3" {
            throw BridgeError(.config, "FP8 format \(JSONWriter.write(fmt, pretty: false)) is not supported (only e4m3)", file: file, key: "quantization_config.fmt")
        }
        if let a = q["activation_scheme"], a.stringValue != "dynamic" {
            throw BridgeError(.config, "activation_scheme \(JSONWriter.write(a, pretty: false)) is not supported (only dynamic)", file: file,
                              key: "quantization_config.activation_scheme", hint: "static activation scales are input_scale tensors the mapping does not carry")
        }
        guard let b = q["weight_block_size"]?.arrayValue?.compactMap(\.intValue), b.count == 2, b[0] > 0, b[1] > 0 else {
            throw BridgeError(.config, "weight_block_size must be two positive integers [rows, cols]", file: file, key: "quantization_config.weight_block_size",
                              hint: "per-tensor FP8 (no weight_block_size) is not supported")
        }
        var modules = [String]()
        if let m = q["modules_to_not_convert"], !m.isNull {
            guard let list = m.arrayValue?.compactMap(\.stringValue), list.count == m.arrayValue?.count else {
                throw BridgeError(.config, "modules_to_not_convert must be a list of strings", file: file, key: "quantization_config.modules_to_not_convert")
            }
            modules = list
        }
        self.init(blockRows: b[0], blockCols: b[1], modulesToNotConvert: modules)
    }

    /// The config `fp8-block[:ROWSxCOLS]` asks for (`export --quantize`, the C API's `quantize`): the Hub's
    /// 128×128 blocks and modules left unquantized unless a block size is given.
    public init(quantizeArgument s: String) throws {
        let parts = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts[0] == "fp8-block" else {
            throw BridgeError(.request, "quantization '\(s)' is not supported", hint: "use fp8-block or fp8-block:ROWSxCOLS (for example fp8-block:128x128)")
        }
        guard parts.count == 2 else { self.init(); return }
        let b = try Self.block(parsing: parts[1])
        self.init(blockRows: b.0, blockCols: b.1)
    }

    /// Parses `BHxBW` (or one number for a square block), as `--quantize fp8-block:BHxBW` spells it.
    public static func block(parsing s: String) throws -> (Int, Int) {
        let parts = s.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard (parts.count == 1 || parts.count == 2), parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw BridgeError(.request, "block size '\(s)' is not ROWSxCOLS", hint: "for example fp8-block:128x128")
        }
        return (parts[0]!, parts[parts.count - 1]!)
    }

    /// The config entry as the Hub writes it.
    public var json: JSONValue {
        .object([("activation_scheme", .string("dynamic")), ("fmt", .string("e4m3")),
                 ("modules_to_not_convert", .array(modulesToNotConvert.map(JSONValue.string))),
                 ("quant_method", .string("fp8")), ("weight_block_size", .ints([blockRows, blockCols]))])
    }

    /// The scale tensor of a quantized weight: `X.weight` → `X.weight_scale_inv`, fused experts
    /// `mlp.experts.gate_up_proj` → `mlp.experts.gate_up_proj_scale_inv` (transformers' `FP8Experts`).
    public static func scaleName(of weight: String) -> String { weight + "_scale_inv" }

    /// The weight a scale tensor belongs to, nil when `name` is not a scale.
    public static func weightName(ofScale name: String) -> String? {
        name.hasSuffix("_scale_inv") ? String(name.dropLast("_scale_inv".count)) : nil
    }

    /// The module a tensor belongs to (its name without the parameter name).
    static func module(of tensor: String) -> String {
        tensor.lastIndex(of: ".").map { String(tensor[..<$0]) } ?? tensor
    }

    /// True unless `modulesToNotConvert` names the module, matched as transformers' `should_convert_module`
    /// matches: from the start up to a module boundary (also as a regex), or as a suffix.
    public func converts(module: String) -> Bool {
        for key in modulesToNotConvert {
            if module.hasSuffix(key) { return false }
            // Boundary: right after a '.', or before a '.' or the end ("mlp.gate" matches "mlp.gate", not "mlp.gate_proj").
            let pattern = "(?:\(key))(?:(?<=\\.)|(?=\\.|$))"
            if let re = try? NSRegularExpression(pattern: pattern),
               re.firstMatch(in: module, options: [.anchored], range: NSRange(module.startIndex..., in: module)) != nil {
                return false
            }
        }
        return true
    }

    /// Whether `export --quantize` quantizes this tensor: the 2-D `.weight` of a converted linear module,
    /// and fused expert projections (`mlp.experts.gate_up_proj` / `down_proj`, per expert over the last
    /// two axes); never norms, biases, or 1-D tensors.
    public func quantizes(_ name: String, shape: [Int]) -> Bool {
        let fused = name.hasSuffix("mlp.experts.gate_up_proj") || name.hasSuffix("mlp.experts.down_proj")
        guard (shape.count == 2 && name.hasSuffix(".weight")) || (shape.count == 3 && fused) else { return false }
        guard !name.contains("norm") else { return false }
        return converts(module: Self.module(of: name))
    }
}
