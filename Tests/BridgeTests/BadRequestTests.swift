import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Requests that cannot be met stop with a typed error before anything is written.
@Suite struct BadRequestTests {
    func importing(_ hfPath: String, _ request: ImportRequest) throws -> (BridgeError?, [String]) {
        let dir = Fixtures.scratch("bad")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "out")
        do {
            let plan = try ImportPlan(source: try HFCheckpoint(path: hfPath, mappings: mappingsDirectory), request: request)
            try ImportPipeline.run(plan, to: out, overwrite: false, executor: WriteExecutor())
            return (nil, try FileSystem.list(dir))
        } catch let e as BridgeError {
            return (e, try FileSystem.list(dir))
        }
    }

    /// A copy of an HF fixture with its tensors changed by `edit` (name → tensor or nil to drop).
    func editedCopy(_ model: String, _ dir: String, edit: (String, ContiguousTensor) throws -> [(String, TensorSource)]) throws -> String {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("\(model)/hf"))
        let out = FileSystem.join(dir, "hf")
        var items = [SafeTensorsWriter.Item]()
        for n in src.names { for (name, t) in try edit(n, try src.tensor(n)) { items.append(.init(name: name, source: t)) } }
        try SafeTensorsWriter.save(items, to: out)
        try FileSystem.copyFile(FileSystem.join(src.directory, "config.json"), FileSystem.join(out, "config.json"))
        return out
    }

    @Test func tpMustDivideQueryGroups() throws {
        let (e, written) = try importing(try Fixtures.path("qwen3_vl_dense_tiny/hf"), ImportRequest(layout: ParallelLayout(tp: 4)))
        #expect(e?.code == .layout && e?.summary.contains("query groups") == true)
        #expect(written.isEmpty)
    }

    @Test func epMustDivideExperts() throws {
        let (e, written) = try importing(try Fixtures.path("qwen3_vl_moe_tiny/hf"), ImportRequest(layout: ParallelLayout(ep: 3)))
        #expect(e?.code == .layout && e?.summary.contains("experts") == true)
        #expect(written.isEmpty)
    }

    @Test func vocabMustDivideWithoutPadding() throws {
        // 1536 rows split 5 ways does not work; 5 does not divide the 2 groups either, so use the check directly.
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/hf"), mappings: mappingsDirectory)
        var l = try ProviderBuilder.language(hf.config, section: "text_config")
        l.vocabSize = 1025
        #expect(throws: BridgeError.self) { try ParallelLayout(tp: 2).validate(language: l, vision: nil, visionSharded: false) }
        #expect(throws: Never.self) { try ParallelLayout(tp: 2, padVocab: true).validate(language: l, vision: nil, visionSharded: false) }
    }

    @Test func missingTensorIsAnError() throws {
        let dir = Fixtures.scratch("missing")
        defer { FileSystem.remove(dir) }
        let hf = try editedCopy("qwen3_vl_moe_tiny", dir) { n, t in n == "model.language_model.layers.1.self_attn.k_norm.weight" ? [] : [(n, t)] }
        let (e, written) = try importing(hf, ImportRequest())
        #expect(e?.code == .missingKeys && e?.key == "model.language_model.layers.1.self_attn.k_norm.weight")
        #expect(written.isEmpty)
    }

    @Test func extraTensorIsAnErrorUnlessAllowed() throws {
        let dir = Fixtures.scratch("extra")
        defer { FileSystem.remove(dir) }
        let hf = try editedCopy("qwen3_vl_moe_tiny", dir) { n, t in
            n == "model.language_model.norm.weight" ? [(n, t), ("model.language_model.mtp.norm.weight", t)] : [(n, t)]
        }
        let (e, written) = try importing(hf, ImportRequest())
        #expect(e?.code == .unusedKeys && e?.key == "model.language_model.mtp.norm.weight")
        #expect(written.isEmpty)
        let (ok, _) = try importing(hf, ImportRequest(allowUnused: ["model.language_model.mtp.**"]))
        #expect(ok == nil)
    }

    @Test func wrongShapeIsAnError() throws {
        let dir = Fixtures.scratch("shape")
        defer { FileSystem.remove(dir) }
        let hf = try editedCopy("qwen3_vl_dense_tiny", dir) { n, t in
            guard n == "model.language_model.layers.0.mlp.up_proj.weight" else { return [(n, t)] }
            let cut = ComposedTensor(dtype: t.dtype, shape: [t.shape[0] - 1, t.shape[1]],
                                     parts: [.init(box: Box(shape: [t.shape[0] - 1, t.shape[1]]), source: t, sourceOrigin: [0, 0], axisMap: [0, 1])])
            return [(n, cut)]
        }
        let (e, written) = try importing(hf, ImportRequest())
        #expect(e?.code == .shape && e?.key == "model.language_model.layers.0.mlp.up_proj.weight")
        #expect(written.isEmpty)
    }

    @Test func mixedExpertLayoutsAreRefused() throws {
        let dir = Fixtures.scratch("mixed")
        defer { FileSystem.remove(dir) }
        // Layer 2's fused experts replaced by per-expert tensors while layers 0 and 1 stay fused.
        let hf = try editedCopy("qwen3_vl_moe_tiny", dir) { n, t in
            guard n.hasPrefix("model.language_model.layers.2.mlp.experts.") else { return [(n, t)] }
            if n.hasSuffix("down_proj") {
                return (0..<8).map { e in
                    ("model.language_model.layers.2.mlp.experts.\(e).down_proj.weight",
                     ComposedTensor(dtype: t.dtype, shape: [80, 24], parts: [.init(box: Box(shape: [80, 24]), source: t, sourceOrigin: [e, 0, 0], axisMap: [1, 2])]))
                }
            }
            return (0..<8).flatMap { e in
                [("gate", 0), ("up", 24)].map { role, off in
                    ("model.language_model.layers.2.mlp.experts.\(e).\(role)_proj.weight",
                     ComposedTensor(dtype: t.dtype, shape: [24, 80], parts: [.init(box: Box(shape: [24, 80]), source: t, sourceOrigin: [e, off, 0], axisMap: [1, 2])]) as TensorSource)
                }
            }
        }
        let (e, written) = try importing(hf, ImportRequest())
        #expect(e?.code == .expertLayout && e?.summary.contains("mixes") == true)
        #expect(written.isEmpty)
    }

    @Test func existingOutputIsNotTouched() throws {
        let dir = Fixtures.scratch("exists")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "out")
        try FileSystem.makeDirectory(out)
        try writeWholeFile(FileSystem.join(out, "keep"), [1])
        let plan = try ImportPlan(source: try HFCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"), mappings: mappingsDirectory),
                                  request: ImportRequest())
        #expect(throws: TensorCoreError.self) { try ImportPipeline.run(plan, to: out, overwrite: false, executor: WriteExecutor()) }
        #expect(try FileSystem.list(out) == ["keep"])
        #expect(try FileSystem.list(dir) == ["out"])
    }
}
