import Forward
import Foundation
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// One validation of config.json for every command: sizes capped before anything is allocated, every
/// integer range-checked before arithmetic, and the converter (plan/import/export) and the forward pass
/// refusing exactly the same configs. Each case was accepted (or trapped, or grew without bound) before.
@Suite struct ConfigValidationTests {
    /// A mutation of the MoE fixture's config.json: a path of keys and the value set there (nil: removed).
    struct Mutation: CustomTestStringConvertible, Sendable {
        var name: String
        var path: [String]
        var value: JSONValue?
        /// A fragment of the error the mutation must cause.
        var expect: String
        var testDescription: String { name }
    }

    static let mutations: [Mutation] = [
        .init(name: "layers 1e9", path: ["text_config", "num_hidden_layers"], value: .int(1_000_000_000), expect: "num_hidden_layers"),
        .init(name: "vision depth 1e9", path: ["vision_config", "depth"], value: .int(1_000_000_000), expect: "vision_config.depth"),
        .init(name: "negative experts", path: ["text_config", "num_local_experts"], value: .int(-3), expect: "num_local_experts"),
        .init(name: "experts beyond the cap", path: ["text_config", "num_local_experts"], value: .int(1 << 20), expect: "num_local_experts"),
        .init(name: "top-k above experts", path: ["text_config", "num_experts_per_tok"], value: .int(9), expect: "exceeds the 8 experts"),
        .init(name: "mrope_section not summing to head_dim/2", path: ["text_config", "rope_parameters", "mrope_section"],
              value: .ints([6, 5, 6]), expect: "mrope_section"),
        .init(name: "mrope_section with 2 entries", path: ["text_config", "rope_parameters", "mrope_section"],
              value: .ints([8, 8]), expect: "mrope_section"),
        .init(name: "deepstack index outside the tower", path: ["vision_config", "deepstack_visual_indexes"],
              value: .ints([0, 3]), expect: "deepstack_visual_indexes"),
        .init(name: "negative deepstack index", path: ["vision_config", "deepstack_visual_indexes"],
              value: .ints([-1]), expect: "deepstack_visual_indexes"),
        .init(name: "unknown model_type", path: ["model_type"], value: .string("llama"), expect: "model_type"),
        .init(name: "patch_size 0", path: ["vision_config", "patch_size"], value: .int(0), expect: "patch_size"),
        .init(name: "spatial_merge_size 0", path: ["vision_config", "spatial_merge_size"], value: .int(0), expect: "spatial_merge_size"),
        .init(name: "negative hidden size", path: ["text_config", "hidden_size"], value: .int(-80), expect: "hidden_size"),
        .init(name: "vocab beyond the cap", path: ["text_config", "vocab_size"], value: .int(1 << 40), expect: "vocab_size"),
        .init(name: "kv heads not dividing heads", path: ["text_config", "num_key_value_heads"], value: .int(3), expect: "num_key_value_heads"),
        .init(name: "zero vision heads", path: ["vision_config", "num_heads"], value: .int(0), expect: "num_heads"),
        .init(name: "vision width differing from text", path: ["vision_config", "out_hidden_size"], value: .int(64), expect: "out_hidden_size"),
        .init(name: "mlp_only_layers outside the decoder", path: ["text_config", "mlp_only_layers"], value: .ints([7]), expect: "mlp_only_layers"),
        .init(name: "zero sparse step", path: ["text_config", "decoder_sparse_step"], value: .int(0), expect: "decoder_sparse_step"),
        .init(name: "negative token id", path: ["image_token_id"], value: .int(-1), expect: "image_token_id"),
        .init(name: "non-square positions", path: ["vision_config", "num_position_embeddings"], value: .int(60), expect: "num_position_embeddings"),
        .init(name: "missing top-k", path: ["text_config", "num_experts_per_tok"], value: nil, expect: "num_experts_per_tok"),
    ]

    static func mutated(_ m: Mutation) throws -> JSONValue {
        let original = try JSONParser.parse(try readWholeFile(try Fixtures.path("qwen3_vl_moe_tiny/hf/config.json")))
        return set(original, m.path[...], m.value)
    }

    static func set(_ v: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue?) -> JSONValue {
        guard let key = path.first, case var .object(members) = v else { return v }
        let i = members.firstIndex { $0.0 == key }
        if path.count == 1 {
            if let i { if let value { members[i].1 = value } else { members.remove(at: i) } } else if let value { members.append((key, value)) }
        } else if let i {
            members[i].1 = set(members[i].1, path.dropFirst(), value)
        }
        return .object(members)
    }

    /// A folder with the fixture's weights and the mutated config.json.
    static func checkpoint(_ config: JSONValue, in dir: String) throws -> String {
        let hf = FileSystem.join(dir, "hf")
        try FileSystem.makeDirectory(hf)
        try FileManager.default.createSymbolicLink(atPath: FileSystem.join(hf, "model.safetensors"),
                                                   withDestinationPath: try Fixtures.path("qwen3_vl_moe_tiny/hf/model.safetensors"))
        try writeWholeFile(FileSystem.join(hf, "config.json"), Array(JSONWriter.write(config).utf8))
        return hf
    }

    /// The planner (plan/import) refuses with a config error naming the field, in milliseconds, and the
    /// forward pass's reader refuses the same config.
    @Test(arguments: mutations)
    func everyCommandRefusesTheSameConfig(_ m: Mutation) throws {
        let dir = Fixtures.scratch("cfg")
        defer { FileSystem.remove(dir) }
        let config = try Self.mutated(m)
        let hf = try Self.checkpoint(config, in: dir)
        let planError = #expect(throws: BridgeError.self) {
            _ = try ImportPlan(source: try HFCheckpoint(path: hf, mappings: mappingsDirectory), request: ImportRequest())
        }
        #expect(planError?.code == .config, "\(m.name): \(String(describing: planError))")
        #expect(planError?.oneLine.contains(m.expect) == true, "\(m.name): \(planError?.oneLine ?? "")")
        #expect(planError?.file?.hasSuffix("config.json") == true)
        let forwardError = #expect(throws: ForwardError.self) { _ = try ModelConfig(json: config) }
        #expect(forwardError?.code == .config)
        #expect(forwardError?.oneLine.contains(m.expect) == true, "\(m.name): \(forwardError?.oneLine ?? "")")
    }

    /// The unmutated fixture is accepted by both, with the same numbers.
    @Test func bothReadersAgreeOnTheFixture() throws {
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"), mappings: mappingsDirectory)
        let l = try ProviderBuilder.language(hf.config, section: "text_config")
        let f = try ModelConfig(configPath: try Fixtures.path("qwen3_vl_moe_tiny/hf/config.json"))
        #expect(l.numLayers == f.text.numLayers && l.numMoeExperts == f.text.moe?.numExperts && l.moeRouterTopk == f.text.moe?.topK)
        #expect(l.mropeSection == f.text.mropeSection && l.kvChannels == f.text.headDim && l.rotaryBase == f.text.ropeTheta)
        let v = try ProviderBuilder.vision(hf.config, section: "vision_config")
        #expect(v.deepstackVisualIndexes == f.vision?.deepstackVisualIndexes && v.patchSize == f.vision?.patchSize)
    }

    /// The defaults are Megatron-Bridge's (`Qwen3VLTransformerConfig`: deepstack [8, 16, 24], mrope
    /// [24, 20, 20], 2304 positions) for both readers; the forward pass used to default deepstack to [].
    @Test func defaultsAreMegatronBridgesForBothReaders() throws {
        var config = try JSONParser.parse(try readWholeFile(try Fixtures.path("qwen3_vl_moe_tiny/hf/config.json")))
        config = Self.set(config, ["vision_config", "deepstack_visual_indexes"], nil)
        config = Self.set(config, ["vision_config", "depth"], .int(27))
        config = Self.set(config, ["vision_config", "num_position_embeddings"], nil)
        let v = try ProviderBuilder.vision(try HFConfig(json: config), section: "vision_config")
        let f = try #require(try ModelConfig(json: config).vision)
        #expect(v.deepstackVisualIndexes == [8, 16, 24] && f.deepstackVisualIndexes == [8, 16, 24])
        #expect(v.numPositionEmbeddings == 2304 && f.numPositionEmbeddings == 2304)
    }

    /// A model_type naming another family than the architecture is refused by the converter.
    @Test func modelTypeMustMatchTheArchitecture() throws {
        let dir = Fixtures.scratch("cfg-type")
        defer { FileSystem.remove(dir) }
        let config = try Self.mutated(.init(name: "", path: ["model_type"], value: .string("qwen3_vl"), expect: ""))
        let hf = try Self.checkpoint(config, in: dir)
        let e = #expect(throws: BridgeError.self) {
            _ = try ImportPlan(source: try HFCheckpoint(path: hf, mappings: mappingsDirectory), request: ImportRequest())
        }
        #expect(e?.code == .config && e?.key == "model_type")
    }

    /// A config.json larger than the cap is refused before it is read.
    @Test func oversizedConfigIsRefusedUnread() throws {
        let dir = Fixtures.scratch("cfg-big")
        defer { FileSystem.remove(dir) }
        let path = FileSystem.join(dir, "config.json")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let h = try #require(FileHandle(forWritingAtPath: path))
        try h.truncate(atOffset: UInt64(Limits.configFileBytes + 1))
        try h.close()
        let e = #expect(throws: BridgeError.self) { _ = try HFConfig(directory: dir) }
        #expect(e?.summary.contains("limit") == true)
        let f = #expect(throws: ForwardError.self) { _ = try ModelConfig(configPath: path) }
        #expect(f?.summary.contains("limit") == true)
    }

    /// A billion-laughs run_config.yaml (10 levels of 10 aliases: 10^10 nodes expanded) is refused while
    /// counting, without expanding it (this used to grow past 4 GiB).
    @Test func yamlAliasBombIsRefused() throws {
        let dir = Fixtures.scratch("cfg-yaml")
        defer { FileSystem.remove(dir) }
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...10 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "model: {_target_: megatron.bridge.models.qwen_vl.qwen3_vl_provider.Qwen3VLModelProvider, bomb: *a10}\n"
        let path = FileSystem.join(dir, "run_config.yaml")
        try writeWholeFile(path, Array(yaml.utf8))
        let e = #expect(throws: BridgeError.self) { _ = try HFConfigRecovery.fromRunConfig(path: path, mappings: mappingsDirectory) }
        #expect(e?.code == .config && e?.summary.contains("expands to more than") == true)
    }
}
