import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// A tensor held in memory (for tiny synthetic checkpoints).
final class FloatBuffer {
    var values: [Float]
    init(_ v: [Float]) { values = v }
}

func memoryTensor(_ shape: [Int], seed: Int) -> ContiguousTensor {
    let n = shape.reduce(1, *)
    let buf = FloatBuffer((0..<n).map { Float(seed * 1000 + $0) * 0.001 })
    return buf.values.withUnsafeBytes { ContiguousTensor(dtype: .f32, shape: shape, base: $0.baseAddress, owner: buf) }
}

/// Tiny inline configs for every family (mlx-swift-lm style): the mapping of every rule, in both directions.
@Suite struct MappingTableTests {
    static let text = """
    "hidden_size": 8, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 4, "intermediate_size": 12,
    "num_hidden_layers": 3, "vocab_size": 32, "rms_norm_eps": 1e-6, "max_position_embeddings": 64
    """
    /// A vision-language text config declares its mrope_section (3 entries summing to head_dim / 2;
    /// the default [24, 20, 20] fits only head_dim 128, and the shared config validation checks it).
    static let vlText = text + #", "rope_parameters": {"rope_theta": 5000000.0, "mrope_section": [1, 1, 0]}"#
    static let vision = """
    "vision_config": {"depth": 2, "hidden_size": 8, "intermediate_size": 12, "num_heads": 2, "out_hidden_size": 8,
      "patch_size": 2, "temporal_patch_size": 2, "spatial_merge_size": 2, "in_channels": 3, "num_position_embeddings": 4,
      "deepstack_visual_indexes": [0]}
    """
    static let configs: [(String, String)] = [
        ("qwen3 with attention bias", "{\"architectures\": [\"Qwen3ForCausalLM\"], \(text), \"attention_bias\": true, \"tie_word_embeddings\": false}"),
        ("qwen3 tied", "{\"architectures\": [\"Qwen3ForCausalLM\"], \(text), \"tie_word_embeddings\": true}"),
        ("qwen3_moe with a dense layer", "{\"architectures\": [\"Qwen3MoeForCausalLM\"], \(text), \"attention_bias\": true, \"num_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 6, \"mlp_only_layers\": [1], \"tie_word_embeddings\": false}"),
        ("qwen3_moe sparse step 2", "{\"architectures\": [\"Qwen3MoeForCausalLM\"], \(text), \"num_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 6, \"decoder_sparse_step\": 2, \"tie_word_embeddings\": false}"),
        ("qwen3_vl", "{\"architectures\": [\"Qwen3VLForConditionalGeneration\"], \"text_config\": {\(vlText)}, \(vision), \"tie_word_embeddings\": true}"),
        ("qwen3_vl untied with attention bias", "{\"architectures\": [\"Qwen3VLForConditionalGeneration\"], \"text_config\": {\(vlText), \"attention_bias\": true}, \(vision), \"tie_word_embeddings\": false}"),
        ("qwen3_vl_moe", "{\"architectures\": [\"Qwen3VLMoeForConditionalGeneration\"], \"text_config\": {\(vlText), \"num_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 6}, \(vision), \"tie_word_embeddings\": false}"),
        ("qwen3_vl_moe with a dense layer and bias", "{\"architectures\": [\"Qwen3VLMoeForConditionalGeneration\"], \"text_config\": {\(vlText), \"attention_bias\": true, \"num_local_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 6, \"mlp_only_layers\": [2]}, \(vision), \"tie_word_embeddings\": false}"),
    ]

    static func context(_ json: String, experts: HFExpertLayout, vision: VisionLayout?) throws -> ModelContext {
        let cfg = try HFConfig(json: try JSONParser.parse(json))
        let table = try MappingTableLoader.table(forArchitecture: cfg.architectures[0], directory: mappingsDirectory)
        return try ModelContext(table: table, hfConfig: cfg, visionLayout: table.visionSection == nil ? nil : vision,
                                expertLayout: try ProviderBuilder.language(cfg, section: table.textSection).isMoE ? experts : .none)
    }

    @Test func everyBundledTableLoads() throws {
        let tables = try MappingTableLoader.loadAll(directory: mappingsDirectory)
        #expect(Set(tables.map(\.family)) == ["qwen3", "qwen3_moe", "qwen3_vl", "qwen3_vl_moe"])
    }

    /// Every entry of every table produces parameters under some config, layout and expert layout.
    @Test func everyRuleIsExercised() throws {
        var used = [String: Set<String>]()
        for (_, json) in Self.configs {
            for experts in [HFExpertLayout.fused(.hub), .fused(.v5), .perExpert] {
                for vision in VisionLayout.allCases {
                    let c = try Self.context(json, experts: experts, vision: vision)
                    for p in try ParameterBuilder.parameters(c) { used[c.table.family, default: []].insert(p.rule.origin) }
                    for x in try ParameterBuilder.extraStates(c) { used[c.table.family, default: []].insert("extra \(x.name.prefix(0))") }
                }
            }
        }
        for t in try MappingTableLoader.loadAll(directory: mappingsDirectory) {
            for r in t.tensors { #expect(used[t.family]?.contains(r.origin) == true, "\(t.family): \(r.origin) \(r.megatron) never applies") }
        }
    }

    /// Writes a tiny HF checkpoint from the table's own names, imports at several layouts and exports back.
    @Test(arguments: configs)
    func syntheticRoundTrip(name: String, json: String) throws {
        for experts in [HFExpertLayout.fused(.hub), .fused(.v5), .perExpert] {
            let c = try Self.context(json, experts: experts, vision: .megatron)
            if experts != .fused(.hub) && !c.language.isMoE { continue }
            let dir = Fixtures.scratch("tiny")
            defer { FileSystem.remove(dir) }
            let hfDir = FileSystem.join(dir, "hf")
            var shapes = [String: [Int]]()
            for p in try ParameterBuilder.parameters(c) { for (r, n) in p.hfNames { shapes[n] = p.hfShapes[r] } }
            try SafeTensorsWriter.save(shapes.keys.sorted().enumerated().map { i, n in .init(name: n, source: memoryTensor(shapes[n]!, seed: i)) }, to: hfDir)
            try writeWholeFile(FileSystem.join(hfDir, "config.json"), Array(json.utf8))
            let hf = try HFCheckpoint(path: hfDir, mappings: mappingsDirectory)
            #expect(try hf.detectExpertLayout() == c.expertLayout, "\(name)")
            for (layout, format) in [(ParallelLayout(tp: 2), MegatronFormat.torchDist), (ParallelLayout(tp: 2, pp: 3, ep: c.language.isMoE ? 2 : 1), .legacy),
                                     (ParallelLayout(pp: 2, ep: c.language.isMoE ? 4 : 1, etp: 1, firstStageLayers: 2), .torchDist)] {
                let meg = FileSystem.join(dir, "m-\(layout.tp)-\(layout.pp)-\(format.rawValue)")
                let plan = try ImportPlan(source: hf, request: ImportRequest(layout: layout, format: format))
                try ImportPipeline.run(plan, to: meg, overwrite: false, executor: WriteExecutor())
                let back = meg + "-hf"
                let choice: ExpertLayoutChoice = experts == .perExpert ? .perExpert : experts == .fused(.v5) ? .v5 : .hub
                let source = try MegatronSource.open(meg)
                let export = try ExportPlan(reader: try source.reader(hfConfig: hf.config, table: hf.table), hfConfig: hf.config,
                                            table: hf.table, request: ExportRequest(expertLayout: choice))
                try ExportPipeline.run(export, hfConfig: hf.config, configDirectory: nil, to: back, overwrite: false, executor: WriteExecutor())
                let r = try CheckpointDiff.compare(try TensorCatalog.open(hfDir), try TensorCatalog.open(back))
                #expect(r.isEqual, "\(name) \(experts) \(layout) \(format): \(r.differing.prefix(2)) \(r.missing.prefix(2)) \(r.extra.prefix(2))")
            }
        }
    }

    @Test func heterogeneousLayersKeepPerLayerKeys() throws {
        let c = try Self.context(Self.configs[2].1, experts: .perExpert, vision: nil)
        let keys = Set(try ParameterBuilder.parameters(c).map(\.storage.key))
        #expect(keys.contains("decoder.layers.1.mlp.linear_fc1.weight"))            // the dense layer
        #expect(keys.contains("decoder.layers.0.mlp.experts.experts.linear_fc1.weight"))
        #expect(keys.contains("decoder.layers.0.self_attention.linear_qkv.weight"))  // attention per layer too
        #expect(!keys.contains("decoder.layers.self_attention.linear_qkv.weight"))
        let homogeneous = try Self.context(Self.configs[0].1, experts: .none, vision: nil)
        let hk = Set(try ParameterBuilder.parameters(homogeneous).map(\.storage.key))
        #expect(hk.contains("decoder.layers.self_attention.linear_qkv.bias"))
        #expect(hk.contains("output_layer.weight"))
        #expect(!Set(try ParameterBuilder.parameters(try Self.context(Self.configs[1].1, experts: .none, vision: nil)).map(\.storage.key)).contains("output_layer.weight"))
    }

    /// The QKV interleave in index form (reference §3.3): Megatron row ((g·(hpg+2)+s)·hd + d) holds q row
    /// ((g·hpg+s)·hd + d) for s < hpg, k row (g·hd+d) for s = hpg, v row (g·hd+d) for s = hpg+1.
    @Test func qkvInterleaveIndexForm() throws {
        let c = try Self.context(Self.configs[0].1, experts: .none, vision: nil)
        let q = memoryTensor([16, 8], seed: 1), k = memoryTensor([8, 8], seed: 2), v = memoryTensor([8, 8], seed: 3)
        let t = try Transforms.apply(.qkv, hfShapes: ["q": q.shape, "k": k.shape, "v": v.shape],
                                     context: TransformContext(language: c.language, vision: nil, paddedVocab: 32))
        let sources: [String: TensorSource] = ["q": q, "k": k, "v": v]
        let composed = ComposedTensor(dtype: .f32, shape: t.megatronShape, parts: t.parts.map {
            .init(box: $0.megatronBox, source: sources[$0.role], sourceOrigin: $0.hfOrigin, axisMap: $0.axisMap)
        })
        let m = try composed.readFloats(), qv = try q.readFloats(), kv = try k.readFloats(), vv = try v.readFloats()
        let hd = 4, hpg = 2
        for g in 0..<2 { for s in 0..<(hpg + 2) { for d in 0..<hd { for col in 0..<8 {
            let row = (g * (hpg + 2) + s) * hd + d
            let want: Float = s < hpg ? qv[((g * hpg + s) * hd + d) * 8 + col] : s == hpg ? kv[(g * hd + d) * 8 + col] : vv[(g * hd + d) * 8 + col]
            #expect(m[row * 8 + col] == want)
        } } } }
    }

    @Test func patterns() throws {
        let p = NamePattern("a.*.b.**")
        #expect(p.match("a.12.b.c.d") == ["12", "c.d"])
        #expect(p.match("a.01.b.c") == nil)      // no leading zeros
        #expect(p.match("a.x.b.c") == nil)
        #expect(try p.render(["3", "w"]) == "a.3.b.w")
        #expect(NamePattern("w*").match("w7") == ["7"])
        #expect(KeyFilter(["model.mtp.**"]).allows("model.mtp.layers.0.w"))
    }

    @Test func malformedTablesAreRejectedWithTheirLine() throws {
        let dir = Fixtures.scratch("tables")
        defer { FileSystem.remove(dir) }
        func load(_ body: String) -> String? {
            let p = FileSystem.join(dir, "t.yaml")
            try? writeWholeFile(p, Array(("family: t\narchitectures: [X]\nprovider: p\n" + body).utf8))
            do { _ = try MappingTableLoader.load(path: p); return nil } catch let e as BridgeError { return e.oneLine } catch { return "\(error)" }
        }
        #expect(load("tensors:\n  - megatron: a\n    hf: b [hidden]\n    parallel: sideways\n")?.contains("parallel") == true)
        #expect(load("tensors:\n  - megatron: a\n    hf: b [hidden]\n    transform: rotate\n    parallel: row\n")?.contains("unknown transform") == true)
        #expect(load("tensors:\n  - megatron: a.*\n    hf: b.* [hidden]\n    parallel: row\n")?.contains("over") == true)
        #expect(load("tensors:\n  - megatron: a\n    hf: b [hidden]\n    parallel: row\n    colour: red\n")?.contains("t.yaml:") == true)
        #expect(load("tensors:\n  - megatron: a\n    hf:\n      q: x [hidden]\n    transform: qkv\n    parallel: column\n")?.contains("roles") == true)
        #expect(load("tensors:\n  - megatron: a\n    hf: b [hidden]\n    parallel: row\n") == nil)
    }
}

/// Fused experts whose two inner axes have the same size cannot be oriented from shapes: refused.
@Suite struct AmbiguousExpertLayoutTests {
    @Test func hiddenEqualToTwiceTheExpertWidthIsRefused() throws {
        let json = """
        {"architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
         "intermediate_size": 8, "num_hidden_layers": 1, "vocab_size": 16, "num_experts": 2, "num_experts_per_tok": 1,
         "moe_intermediate_size": 4, "tie_word_embeddings": true}
        """
        let cfg = try HFConfig(json: try JSONParser.parse(json))
        let table = try MappingTableLoader.table(forArchitecture: "Qwen3MoeForCausalLM", directory: mappingsDirectory)
        let shapes: [String: [Int]] = ["model.layers.0.mlp.experts.gate_up_proj": [2, 8, 8], "model.layers.0.mlp.experts.down_proj": [2, 4, 8]]
        do {
            _ = try ExpertLayoutDetector.detect(table: table, hfConfig: cfg, names: Array(shapes.keys)) { shapes[$0] }
            Issue.record("expected an ambiguity error")
        } catch let e as BridgeError {
            #expect(e.code == .expertLayout && e.key == "model.layers.0.mlp.experts.gate_up_proj")
        }
    }
}
