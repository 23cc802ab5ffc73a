import Foundation
import SafeTensors
import Testing
import TensorCore
import Synth
import TestSupport
@testable import Bridge

/// `ckpt-bridge synth`: the planned tensors are those of the real models (checked against lists written
/// out here, independently of the mapping tables that produce them), the folder is a valid sharded HF
/// checkpoint, and the values are a deterministic function of (seed, name, element index).
///
/// The presets are full size (a 1-layer 30B-A3B is 3.6 GB), so these tests check names and shapes from
/// the plan and write only a handful of small tensors.
@Suite struct SynthTests {
    /// Qwen3-VL-30B-A3B-Instruct's HF tensors (transformers 4.57 / Hub names, hub fused experts) for
    /// `layers` text layers, as the oracle's synth_hf.py lists them.
    static func expected30B(layers: Int) -> [String: [Int]] {
        expectedMoE(layers: layers, hidden: 2048, expertFFN: 768, heads: 32)
    }

    /// The MoE tensors for `layers` text layers with these widths (128 experts, 4 KV heads, head_dim 128):
    /// 30B-A3B is (2048, 768, 32), 235B-A22B (4096, 1536, 64).
    static func expectedMoE(layers: Int, hidden h: Int, expertFFN i: Int, heads: Int) -> [String: [Int]] {
        var s = vision(out: h)
        let e = 128, v = 151936
        s["model.language_model.embed_tokens.weight"] = [v, h]
        for l in 0..<layers {
            let p = "model.language_model.layers.\(l)."
            s[p + "self_attn.q_proj.weight"] = [heads * 128, h]
            s[p + "self_attn.k_proj.weight"] = [4 * 128, h]
            s[p + "self_attn.v_proj.weight"] = [4 * 128, h]
            s[p + "self_attn.o_proj.weight"] = [h, heads * 128]
            s[p + "self_attn.q_norm.weight"] = [128]
            s[p + "self_attn.k_norm.weight"] = [128]
            s[p + "mlp.gate.weight"] = [e, h]
            s[p + "mlp.experts.gate_up_proj"] = [e, h, 2 * i]
            s[p + "mlp.experts.down_proj"] = [e, i, h]
            s[p + "input_layernorm.weight"] = [h]
            s[p + "post_attention_layernorm.weight"] = [h]
        }
        s["model.language_model.norm.weight"] = [h]
        s["lm_head.weight"] = [v, h]
        return s
    }

    /// Qwen3-VL-8B-Instruct's HF tensors for `layers` text layers.
    static func expected8B(layers: Int) -> [String: [Int]] {
        var s = vision(out: 4096)
        let h = 4096, f = 12288, v = 151936
        s["model.language_model.embed_tokens.weight"] = [v, h]
        for l in 0..<layers {
            let p = "model.language_model.layers.\(l)."
            s[p + "self_attn.q_proj.weight"] = [32 * 128, h]
            s[p + "self_attn.k_proj.weight"] = [8 * 128, h]
            s[p + "self_attn.v_proj.weight"] = [8 * 128, h]
            s[p + "self_attn.o_proj.weight"] = [h, 32 * 128]
            s[p + "self_attn.q_norm.weight"] = [128]
            s[p + "self_attn.k_norm.weight"] = [128]
            s[p + "mlp.gate_proj.weight"] = [f, h]
            s[p + "mlp.up_proj.weight"] = [f, h]
            s[p + "mlp.down_proj.weight"] = [h, f]
            s[p + "input_layernorm.weight"] = [h]
            s[p + "post_attention_layernorm.weight"] = [h]
        }
        s["model.language_model.norm.weight"] = [h]
        s["lm_head.weight"] = [v, h]
        return s
    }

    /// The 27-block vision tower (hidden 1152, 16 heads, intermediate 4304, patch 16, temporal 2, merge 2,
    /// 2304 positions, three DeepStack mergers).
    static func vision(out: Int) -> [String: [Int]] {
        let hv = 1152, fv = 4304, m = 4 * hv
        var s: [String: [Int]] = [
            "model.visual.patch_embed.proj.weight": [hv, 3, 2, 16, 16],
            "model.visual.patch_embed.proj.bias": [hv],
            "model.visual.pos_embed.weight": [2304, hv],
        ]
        for b in 0..<27 {
            let p = "model.visual.blocks.\(b)."
            for n in ["norm1", "norm2"] { s[p + n + ".weight"] = [hv]; s[p + n + ".bias"] = [hv] }
            s[p + "attn.qkv.weight"] = [3 * hv, hv]; s[p + "attn.qkv.bias"] = [3 * hv]
            s[p + "attn.proj.weight"] = [hv, hv]; s[p + "attn.proj.bias"] = [hv]
            s[p + "mlp.linear_fc1.weight"] = [fv, hv]; s[p + "mlp.linear_fc1.bias"] = [fv]
            s[p + "mlp.linear_fc2.weight"] = [hv, fv]; s[p + "mlp.linear_fc2.bias"] = [hv]
        }
        for (p, normWidth) in [("model.visual.merger.", hv)] + (0..<3).map({ ("model.visual.deepstack_merger_list.\($0).", m) }) {
            s[p + "norm.weight"] = [normWidth]; s[p + "norm.bias"] = [normWidth]
            s[p + "linear_fc1.weight"] = [m, m]; s[p + "linear_fc1.bias"] = [m]
            s[p + "linear_fc2.weight"] = [out, m]; s[p + "linear_fc2.bias"] = [out]
        }
        return s
    }

    static func plan(_ preset: SynthPreset, layers: Int, dtype: DType = .bf16, seed: UInt64 = 0,
                     maxShardSize: Int = SafeTensorsWriter.defaultMaxShardSize) throws -> SyntheticCheckpoint {
        try SyntheticCheckpoint(options: .init(preset: preset, layers: layers, dtype: dtype, seed: seed, maxShardSize: maxShardSize),
                                mappings: mappingsDirectory)
    }

    static func planned(_ s: SyntheticCheckpoint) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: s.tensors.map { ($0.name, $0.shape) })
    }

    @Test(arguments: [1, 2, 5])
    func moePlanHasTheRealShapes(layers: Int) throws {
        let s = try Self.plan(.qwen3VL30BA3B, layers: layers)
        let want = Self.expected30B(layers: layers)
        let got = Self.planned(s)
        #expect(Set(got.keys).subtracting(want.keys).isEmpty, "unexpected: \(Set(got.keys).subtracting(want.keys).sorted())")
        #expect(Set(want.keys).subtracting(got.keys).isEmpty, "missing: \(Set(want.keys).subtracting(got.keys).sorted())")
        for (n, shape) in want { #expect(got[n] == shape, "\(n)") }
        #expect(s.tensors.allSatisfy { $0.dtype == .bf16 })
        #expect(s.tensors.map(\.name) == s.tensors.map(\.name).sorted(by: naturalLess))
        if layers == 1 { #expect(s.totalBytes == 3_568_167_904) }   // 1.784e9 parameters in bf16
    }

    /// Qwen3-VL-235B-A22B: each text layer is ~4.9 GB in bf16 (2.43e9 parameters, almost all experts).
    @Test(arguments: [1, 2])
    func largeMoePlanHasTheRealShapes(layers: Int) throws {
        let s = try Self.plan(.qwen3VL235BA22B, layers: layers)
        let want = Self.expectedMoE(layers: layers, hidden: 4096, expertFFN: 1536, heads: 64)
        let got = Self.planned(s)
        #expect(Set(got.keys) == Set(want.keys))
        for (n, shape) in want { #expect(got[n] == shape, "\(n)") }
        let perLayer = want.filter { $0.key.contains(".layers.0.") }.values.reduce(0) { $0 + 2 * $1.reduce(1, *) }
        #expect(perLayer > 4_800_000_000 && perLayer < 5_000_000_000)
        #expect(s.totalBytes == want.values.reduce(0) { $0 + 2 * $1.reduce(1, *) })
    }

    @Test(arguments: [1, 2])
    func densePlanHasTheRealShapes(layers: Int) throws {
        let s = try Self.plan(.qwen3VL8B, layers: layers, dtype: .f32)
        let want = Self.expected8B(layers: layers)
        #expect(Self.planned(s) == want)
        #expect(s.tensors.allSatisfy { $0.dtype == .f32 })
    }

    @Test func configIsTheRealOneWithNLayers() throws {
        for preset in SynthPreset.allCases {
            let s = try Self.plan(preset, layers: 3)
            let hf = try HFConfig(json: s.config)
            #expect(try hf.int("text_config", "num_hidden_layers") == 3)
            #expect(hf.architectures == [preset.architecture])
            #expect(try hf.optionalInts("vision_config", "deepstack_visual_indexes") == [8, 16, 24])
            #expect(hf.optionalString("", "dtype") == "bfloat16")
            let text = try ProviderBuilder.language(hf, section: "text_config")
            #expect(text.rotaryBase == 5_000_000 && text.mropeSection == [24, 20, 20] && text.mropeInterleaved)
            #expect(!text.shareEmbeddingsAndOutputWeights)
            switch preset {
            case .qwen3VL30BA3B:
                #expect(text.numMoeExperts == 128 && text.moeRouterTopk == 8 && text.moeFfnHiddenSize == 768)
                #expect(text.hiddenSize == 2048 && text.numQueryGroups == 4)
            case .qwen3VL235BA22B:
                #expect(text.numMoeExperts == 128 && text.moeRouterTopk == 8 && text.moeFfnHiddenSize == 1536)
                #expect(text.hiddenSize == 4096 && text.numQueryGroups == 4 && text.numAttentionHeads == 64)
                #expect(text.kvChannels == 128 && text.ffnHiddenSize == 12288)
            case .qwen3VL8B:
                #expect(text.numMoeExperts == nil && text.ffnHiddenSize == 12288)
                #expect(text.hiddenSize == 4096 && text.numQueryGroups == 8)
            }
        }
        let f32 = try Self.plan(.qwen3VL8B, layers: 1, dtype: .f32)
        #expect(f32.config["dtype"]?.stringValue == "float32")
    }

    @Test func rejectsBadRequests() throws {
        #expect(throws: BridgeError.self) { try Self.plan(.qwen3VL8B, layers: 0) }
        #expect(throws: BridgeError.self) { try Self.plan(.qwen3VL8B, layers: 1, dtype: .i64) }
    }

    /// Small tensors of the 30B plan: norms, biases, the router, q/k norms (about 1.3 MB in all).
    static func small(_ name: String) -> Bool {
        name.hasSuffix("bias") || name.hasSuffix("norm.weight") || name.hasSuffix(".norm1.weight")
            || name.hasSuffix(".norm2.weight") || name.hasSuffix("mlp.gate.weight")
    }

    @Test func writesAValidShardedFolder() throws {
        let dir = Fixtures.scratch("synth")
        defer { FileSystem.remove(dir) }
        let s = try Self.plan(.qwen3VL30BA3B, layers: 2, maxShardSize: 256 << 10)
        let out = FileSystem.join(dir, "ckpt")
        let summary = try s.write(to: out, include: Self.small)
        let want = s.tensors.filter { Self.small($0.name) }
        #expect(summary.tensors == want.count && want.count > 200)
        #expect(summary.shards > 3)

        let ck = try SafeTensorsCheckpoint(path: out)
        #expect(ck.indexed && ck.files.count == summary.shards)
        #expect(FileSystem.isFile(FileSystem.join(out, SafeTensorsCheckpoint.indexFileName)))
        let index = try SafeTensorsCheckpoint.readIndex(FileSystem.join(out, SafeTensorsCheckpoint.indexFileName))
        #expect(index.totalSize == want.reduce(0) { $0 + $1.byteCount })
        #expect(Set(ck.names) == Set(want.map(\.name)))
        for t in want {
            let e = try #require(ck.entry(t.name))
            #expect(e.shape == t.shape && e.dtype == .bf16, "\(t.name)")
        }
        let config = try HFConfig(directory: out)
        #expect(try config.int("text_config", "num_hidden_layers") == 2)
        #expect(config.architectures == ["Qwen3VLMoeForConditionalGeneration"])
        let pre = try JSONParser.parse(try readWholeFile(FileSystem.join(out, "preprocessor_config.json")))
        #expect(pre["patch_size"]?.intValue == 16 && pre["merge_size"]?.intValue == 2 && pre["temporal_patch_size"]?.intValue == 2)
        #expect(pre["image_processor_type"]?.stringValue == "Qwen2VLImageProcessor")
        #expect(FileSystem.isFile(FileSystem.join(out, "generation_config.json")))

        // The folder opens as an HF checkpoint for conversion, with the family's table.
        let hf = try HFCheckpoint(path: out, mappings: mappingsDirectory)
        #expect(hf.table.family == "qwen3_vl_moe")

        // Refuses to replace an existing folder unless asked to.
        #expect(throws: (any Error).self) { try s.write(to: out, include: { $0 == "lm_head.weight" }) }
        try s.write(to: out, overwrite: true, include: { $0.hasSuffix("q_norm.weight") })
        #expect(try SafeTensorsCheckpoint(path: out).names.count == 2)
    }

    @Test func valuesAreDeterministicPerSeed() throws {
        let dir = Fixtures.scratch("synth-seed")
        defer { FileSystem.remove(dir) }
        func hashes(seed: UInt64, jobs: Int, maxShard: Int) throws -> [String: UInt64] {
            let s = try Self.plan(.qwen3VL30BA3B, layers: 1, seed: seed, maxShardSize: maxShard)
            let out = FileSystem.join(dir, "s\(seed)-j\(jobs)-\(maxShard)")
            try s.write(to: out, executor: WriteExecutor(jobs: jobs), include: Self.small)
            let ck = try SafeTensorsCheckpoint(path: out)
            var h = [String: UInt64]()
            for n in ck.names {
                h[n] = try TensorHashing.xxh3(try ck.tensor(n))
                // The file holds exactly what the generator produces.
                let t = try #require(s.tensors.first { $0.name == n })
                #expect(h[n] == (try TensorHashing.xxh3(try s.source(for: t))), "\(n)")
            }
            return h
        }
        let a = try hashes(seed: 7, jobs: 2, maxShard: 1 << 20)
        let b = try hashes(seed: 7, jobs: 1, maxShard: 5_000_000_000)
        let c = try hashes(seed: 8, jobs: 2, maxShard: 1 << 20)
        #expect(!a.isEmpty && a == b)
        #expect(Set(a.keys) == Set(c.keys))
        #expect(a.allSatisfy { c[$0.key] != $0.value }, "a different seed changes every tensor")
        #expect(Set(a.values).count == a.count, "every tensor is distinct")
    }

    @Test func anyRegionComesOutTheSameOnItsOwn() throws {
        // The 30B layer's fused experts [128, 2048, 1536] (403M elements): regions are generated without
        // the rest of the tensor and agree with the elementwise formula and with each other.
        let s = try Self.plan(.qwen3VL30BA3B, layers: 1, dtype: .f32, seed: 3)
        let t = try #require(s.tensors.first { $0.name == "model.language_model.layers.0.mlp.experts.gate_up_proj" })
        let src = try s.source(for: t)
        let outer = Box(offsets: [5, 100, 700], sizes: [3, 4, 50])
        let whole = try src.readFloats(outer)
        for (e, r, c) in [(0, 0, 0), (2, 3, 49), (1, 2, 17)] {
            let global = (5 + e) * 2048 * 1536 + (100 + r) * 1536 + (700 + c)
            #expect(whole[(e * 4 + r) * 50 + c] == src.value(at: global))
        }
        let inner = try src.readFloats(Box(offsets: [6, 101, 720], sizes: [1, 2, 10]))
        for r in 0..<2 { for c in 0..<10 { #expect(inner[r * 10 + c] == whole[(1 * 4 + 1 + r) * 50 + 20 + c]) } }

        // bf16 is the fp32 value rounded.
        let bf = try SyntheticTensor(name: t.name, shape: t.shape, dtype: .bf16, seed: 3)
        let bits = try bf.readBytes(outer)
        for k in [0, 1, 77, 599] {
            let b = UInt16(bits[2 * k]) | UInt16(bits[2 * k + 1]) << 8
            #expect(b == FloatCast.floatToBF16(whole[k]))
        }
    }

    @Test func valuesHaveTheIntendedSpread() throws {
        let s = try Self.plan(.qwen3VL30BA3B, layers: 1, dtype: .f32)
        func stats(_ name: String) throws -> (min: Float, max: Float, mean: Double) {
            let t = try #require(s.tensors.first { $0.name == name })
            let v = try s.source(for: t).readFloats()
            return (v.min()!, v.max()!, v.reduce(0.0) { $0 + Double($1) } / Double(v.count))
        }
        let router = try stats("model.language_model.layers.0.mlp.gate.weight")
        #expect(router.min >= -0.02 && router.max < 0.02 && router.min < -0.0199 && router.max > 0.0199)
        #expect(abs(router.mean) < 2e-4)
        for n in ["model.language_model.norm.weight", "model.visual.blocks.0.norm1.weight",
                  "model.language_model.layers.0.self_attn.q_norm.weight", "model.visual.merger.norm.weight"] {
            let st = try stats(n)
            #expect(st.min >= 0.98 && st.max < 1.02 && abs(st.mean - 1) < 0.005, "\(n)")
        }
        let bias = try stats("model.visual.merger.norm.bias")
        #expect(bias.min >= -0.02 && bias.max < 0.02)
    }
}
