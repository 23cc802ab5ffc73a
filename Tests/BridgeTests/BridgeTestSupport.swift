import TensorCore
import TestSupport
@testable import Bridge

/// The mapping tables of this repository.
let mappingsDirectory = FileSystem.join(Fixtures.repoRoot, "Mappings")

/// A Megatron-Bridge fixture checkpoint and the layout it was saved with.
struct BridgeFixture: CustomStringConvertible {
    var model: String
    var name: String
    var layout: ParallelLayout
    var visionLayout: VisionLayout

    var description: String { "\(model)/\(name)" }
    var iterationDirectory: String { get throws { try Fixtures.path("\(model)/\(name)/megatron/iter_0000000") } }

    /// The oracle's reassembled global tensors for this checkpoint.
    var globalTensors: String {
        get throws {
            visionLayout == .megatron ? try Fixtures.path("\(model)/\(name)/megatron_global_tensors.safetensors")
                : try Fixtures.path("\(model)/megatron_global_tensors.safetensors")
        }
    }

    static let all: [BridgeFixture] = [
        BridgeFixture(model: "qwen3_vl_dense_tiny", name: "bridge_tp1_ep1", layout: ParallelLayout(), visionLayout: .hf),
        BridgeFixture(model: "qwen3_vl_dense_tiny", name: "bridge_tp2_ep1", layout: ParallelLayout(tp: 2), visionLayout: .hf),
        BridgeFixture(model: "qwen3_vl_moe_tiny", name: "bridge_tp1_ep1", layout: ParallelLayout(), visionLayout: .hf),
        BridgeFixture(model: "qwen3_vl_moe_tiny", name: "bridge_tp1_ep2", layout: ParallelLayout(ep: 2), visionLayout: .hf),
        BridgeFixture(model: "qwen3_vl_dense_tiny", name: "bridge06_tp1_ep1", layout: ParallelLayout(), visionLayout: .megatron),
        BridgeFixture(model: "qwen3_vl_dense_tiny", name: "bridge06_tp2_ep1", layout: ParallelLayout(tp: 2), visionLayout: .megatron),
        BridgeFixture(model: "qwen3_vl_moe_tiny", name: "bridge06_tp1_ep1", layout: ParallelLayout(), visionLayout: .megatron),
        BridgeFixture(model: "qwen3_vl_moe_tiny", name: "bridge06_tp1_ep2", layout: ParallelLayout(ep: 2), visionLayout: .megatron),
    ]
}

/// The oracle's layout.json of a fixture checkpoint: keys, dtypes, global shapes, chunks, byte items.
struct OracleLayout {
    struct Tensor { var dtype: String; var shape: [Int]; var chunks: [Box] }
    var tensors: [String: Tensor]
    var byteKeys: [String]

    init(_ iterationDirectory: String) throws {
        let json = try JSONParser.parse(try readWholeFile(FileSystem.join(iterationDirectory, "layout.json")))
        var t = [String: Tensor]()
        for (k, v) in json["tensors"]?.objectMembers ?? [] {
            let chunks = (v["chunks"]?.arrayValue ?? []).map { c in
                Box(offsets: c["offsets"]!.arrayValue!.map { $0.intValue! }, sizes: c["sizes"]!.arrayValue!.map { $0.intValue! })
            }
            t[k] = Tensor(dtype: v["dtype"]!.stringValue!, shape: v["global_shape"]!.arrayValue!.map { $0.intValue! }, chunks: chunks)
        }
        tensors = t
        byteKeys = (json["bytes"]?.objectMembers ?? []).map(\.0)
    }
}

/// torch dtype names as the oracle prints them.
func torchName(_ d: DType) -> String {
    switch d {
    case .f32: return "float32"
    case .bf16: return "bfloat16"
    case .f16: return "float16"
    default: return d.rawValue
    }
}

import Forward
import SafeTensors

/// The forward pass of an HF checkpoint and of a Megatron checkpoint on the built-in text and image
/// prompts: each Megatron logit must be within `maxAbs` of the HF one, every argmax the same.
func verifyLogits(hf: String, megatron: String, maxAbs: Double = 5e-5) throws -> [LogitComparison] {
    let config = try ModelConfig(configPath: FileSystem.join(hf, "config.json"))
    let a = Qwen3VLForward(config: config, weights: HFWeights(checkpoint: try SafeTensorsCheckpoint(path: hf), config: config))
    let (store, _) = try MegatronStorageView.open(megatron, mappings: mappingsDirectory)
    let b = Qwen3VLForward(config: config, weights: try MegatronWeights(store: store, config: config))
    return try ForwardInputs.builtIn(config: config).map { _, input in
        let x = try a.run(input), y = try b.run(input)
        return try LogitComparison(y.logits, reference: x.logits, vocabSize: x.vocabSize)
    }
}
