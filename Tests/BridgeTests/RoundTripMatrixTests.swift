import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// HF → Megatron → HF must give back every tensor with the same bytes, and a config.json equal in
/// meaning, at every parallel layout, in both Megatron formats, for fp32 and bf16, in both vision layouts.
@Suite struct RoundTripMatrixTests {
    struct Case: CustomStringConvertible {
        var model: String
        var hfDir: String
        var layout: ParallelLayout
        var format: MegatronFormat
        var vision: VisionLayout
        var description: String { "\(model)/\(hfDir) \(layout) \(format.rawValue) vision=\(vision.rawValue)" }
    }

    static let cases: [Case] = {
        var out = [Case]()
        // Dense: 4 layers, 2 query groups, 4 vision heads: TP 1/2, PP 1/2, both vision layouts.
        for hfDir in ["hf", "hf_bf16"] {
            for tp in [1, 2] {
                for pp in [1, 2] {
                    for format in MegatronFormat.allCases {
                        for vision in VisionLayout.allCases {
                            out.append(Case(model: "qwen3_vl_dense_tiny", hfDir: hfDir, layout: ParallelLayout(tp: tp, pp: pp), format: format, vision: vision))
                        }
                    }
                }
            }
        }
        // MoE: 3 layers, 8 experts, 3 vision heads (so the Megatron vision layout needs TP 1).
        for hfDir in ["hf", "hf_bf16", "hf_v4"] {
            for tp in [1, 2] {
                for ep in [1, 2, 4] {
                    for pp in [1, 2] {
                        for format in MegatronFormat.allCases {
                            let layout = ParallelLayout(tp: tp, pp: pp, ep: ep, firstStageLayers: pp == 2 ? 1 : nil)
                            out.append(Case(model: "qwen3_vl_moe_tiny", hfDir: hfDir, layout: layout, format: format, vision: tp == 1 ? .megatron : .hf))
                        }
                    }
                }
            }
        }
        // ETP different from TP, and vocab padding.
        out.append(Case(model: "qwen3_vl_moe_tiny", hfDir: "hf", layout: ParallelLayout(tp: 2, ep: 2, etp: 1), format: .torchDist, vision: .hf))
        out.append(Case(model: "qwen3_vl_moe_tiny", hfDir: "hf", layout: ParallelLayout(tp: 2, ep: 2, etp: 1), format: .legacy, vision: .hf))
        out.append(Case(model: "qwen3_vl_dense_tiny", hfDir: "hf", layout: ParallelLayout(tp: 2, padVocab: true), format: .torchDist, vision: .megatron))
        out.append(Case(model: "qwen3_vl_moe_tiny", hfDir: "hf_bf16", layout: ParallelLayout(tp: 2, padVocab: true), format: .legacy, vision: .hf))
        // fsdp_dtensor holds whole tensors: only the unsplit layout applies (others are refused by the plan,
        // which FSDPDTensorTests checks).
        return out.filter { c in
            c.format != .fsdpDTensor || (c.layout.tp == 1 && c.layout.pp == 1 && c.layout.ep == 1 && !c.layout.padVocab)
        }
    }()

    @Test(arguments: cases)
    func roundTripIsBitExact(_ c: Case) throws {
        let hfPath = try Fixtures.path("\(c.model)/\(c.hfDir)")
        let dir = Fixtures.scratch("rt")
        defer { FileSystem.remove(dir) }
        let meg = FileSystem.join(dir, "megatron"), back = FileSystem.join(dir, "hf")

        let hf = try HFCheckpoint(path: hfPath, mappings: mappingsDirectory)
        let plan = try ImportPlan(source: hf, request: ImportRequest(layout: c.layout, format: c.format, visionLayout: c.vision))
        try ImportPipeline.run(plan, to: meg, overwrite: false, executor: WriteExecutor(jobs: 2))
        // verify: the Megatron checkpoint computes what the HF one does (independent readers).
        for cmp in try verifyLogits(hf: hfPath, megatron: meg) { #expect(cmp.passes(maxAbs: 5e-5), "\(c): \(cmp)") }

        let source = try MegatronSource.open(meg)
        let found = try HFConfigRecovery.find(iterationDirectory: source.iterationDirectory, explicit: nil, mappings: mappingsDirectory)
        let orientation: ExpertLayoutChoice = c.hfDir == "hf_v4" ? .hub : .v5
        let export = try ExportPlan(reader: try source.reader(hfConfig: found.config, table: hf.table), hfConfig: found.config,
                                    table: hf.table, request: ExportRequest(expertLayout: orientation))
        #expect(export.context.visionLayout == c.vision)
        try ExportPipeline.run(export, hfConfig: found.config, configDirectory: found.companionDirectory, to: back,
                               overwrite: false, executor: WriteExecutor(jobs: 2))

        let report = try CheckpointDiff.compare(try TensorCatalog.open(hfPath), try TensorCatalog.open(back))
        #expect(report.isEqual, "\(c): \(report.missing.prefix(3)) \(report.extra.prefix(3)) \(report.differing.prefix(3))")
        #expect(report.compared == hf.weights.names.count)
        #expect(try HFConfig(directory: back).json.equalsIgnoringOrder(hf.config.json), "\(c): config.json")
        if c.layout.padVocab {
            let m = 128 * c.layout.tp
            #expect(plan.context.paddedVocab == (plan.context.language.vocabSize + m - 1) / m * m)
        }
    }

    /// Per-expert HF checkpoints (older transformers) go through the same path, and export can write any layout.
    @Test(arguments: ExpertLayoutChoice.allCases)
    func expertLayoutsConvertIntoEachOther(_ target: ExpertLayoutChoice) throws {
        let dir = Fixtures.scratch("experts")
        defer { FileSystem.remove(dir) }
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf_v4"), mappings: mappingsDirectory)
        let meg = FileSystem.join(dir, "m")
        try ImportPipeline.run(try ImportPlan(source: hf, request: ImportRequest(layout: ParallelLayout(ep: 2), visionLayout: .hf)),
                               to: meg, overwrite: false, executor: WriteExecutor())
        let source = try MegatronSource.open(meg)
        let out = FileSystem.join(dir, target.rawValue)
        let plan = try ExportPlan(reader: try source.reader(hfConfig: hf.config, table: hf.table), hfConfig: hf.config, table: hf.table,
                                  request: ExportRequest(expertLayout: target))
        try ExportPipeline.run(plan, hfConfig: hf.config, configDirectory: nil, to: out, overwrite: false, executor: WriteExecutor())
        // Import the exported layout again: the Megatron tensors must not change.
        let again = try HFCheckpoint(path: out, mappings: mappingsDirectory)
        #expect(try again.detectExpertLayout() == target.layout)
        let meg2 = FileSystem.join(dir, "m2")
        try ImportPipeline.run(try ImportPlan(source: again, request: ImportRequest(layout: ParallelLayout(tp: 2, ep: 4), visionLayout: .hf)),
                               to: meg2, overwrite: false, executor: WriteExecutor())
        let report = try CheckpointDiff.compare(try TensorCatalog.open(meg), try TensorCatalog.open(meg2))
        #expect(report.isEqual, "\(report.differing.prefix(3))")
    }
}

/// Vocab padding with a vocabulary that is not a multiple of 128·TP: Megatron gets zero rows, export prunes them.
@Suite struct VocabPaddingTests {
    @Test(arguments: [MegatronFormat.torchDist, .legacy])
    func paddedRowsAreZeroAndPrunedOnExport(format: MegatronFormat) throws {
        let dir = Fixtures.scratch("pad")
        defer { FileSystem.remove(dir) }
        // The MoE fixture cut to a 1000-row vocabulary (embedding and lm_head both).
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"))
        let hfPath = FileSystem.join(dir, "hf")
        var items = [SafeTensorsWriter.Item]()
        for n in src.names {
            let t = try src.tensor(n)
            if t.shape.first == 1536 && t.shape.count == 2 {
                items.append(.init(name: n, source: ComposedTensor(dtype: t.dtype, shape: [1000, 80],
                                                                   parts: [.init(box: Box(shape: [1000, 80]), source: t, sourceOrigin: [0, 0], axisMap: [0, 1])])))
            } else {
                items.append(.init(name: n, source: t))
            }
        }
        try SafeTensorsWriter.save(items, to: hfPath)
        let cfg = String(decoding: try readWholeFile(FileSystem.join(src.directory, "config.json")), as: UTF8.self)
            .replacingOccurrences(of: "\"vocab_size\": 1536", with: "\"vocab_size\": 1000")
        try writeWholeFile(FileSystem.join(hfPath, "config.json"), Array(cfg.utf8))

        let hf = try HFCheckpoint(path: hfPath, mappings: mappingsDirectory)
        #expect(throws: BridgeError.self) { _ = try ImportPlan(source: hf, request: ImportRequest(layout: ParallelLayout(tp: 16))) }
        let plan = try ImportPlan(source: hf, request: ImportRequest(layout: ParallelLayout(tp: 2, padVocab: true), format: format, visionLayout: .hf))
        #expect(plan.context.paddedVocab == 1024)
        let meg = FileSystem.join(dir, "m")
        try ImportPipeline.run(plan, to: meg, overwrite: false, executor: WriteExecutor())
        if format == .torchDist {
            let emb = try TorchDistStore(path: meg).tensorSource("language_model.embedding.word_embeddings.weight")
            #expect(emb.shape == [1024, 80])
            let pad = try emb.readFloats(Box(offsets: [1000, 0], sizes: [24, 80]))
            #expect(pad.allSatisfy { $0 == 0 })
        }
        let source = try MegatronSource.open(meg)
        let export = try ExportPlan(reader: try source.reader(hfConfig: hf.config, table: hf.table), hfConfig: hf.config, table: hf.table,
                                    request: ExportRequest(expertLayout: .v5))
        let back = FileSystem.join(dir, "back")
        try ExportPipeline.run(export, hfConfig: hf.config, configDirectory: nil, to: back, overwrite: false, executor: WriteExecutor())
        let report = try CheckpointDiff.compare(try TensorCatalog.open(hfPath), try TensorCatalog.open(back))
        #expect(report.isEqual, "\(report.differing.prefix(3))")
    }
}
