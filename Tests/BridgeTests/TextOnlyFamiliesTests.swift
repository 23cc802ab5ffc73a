import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// The text-only tables (Qwen3, Qwen3-MoE) against plain megatron-core GPTModel checkpoints: Megatron →
/// HF → Megatron gives the same global tensors, and our import reproduces megatron-core's chunk structure.
@Suite struct TextOnlyFamiliesTests {
    /// An HF config for the fixtures' text model as a text-only Qwen3 / Qwen3-MoE.
    static func config(_ variant: String) throws -> HFConfig {
        let vl = try HFConfig(directory: try Fixtures.path("qwen3_vl_\(variant)_tiny/hf"))
        guard case var .object(text)? = vl.json["text_config"] else { throw BridgeError(.config, "no text_config") }
        text.removeAll { $0.0 == "architectures" || $0.0 == "model_type" }
        text.insert(("architectures", .array([.string(variant == "moe" ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM")])), at: 0)
        text.append(("model_type", .string(variant == "moe" ? "qwen3_moe" : "qwen3")))
        if variant == "moe" { text.append(("num_experts", .int(8))); text.removeAll { $0.0 == "num_local_experts" } }
        return try HFConfig(json: .object(text))
    }

    static let cases: [(String, String, ParallelLayout)] = [
        ("dense", "tp1_ep1", ParallelLayout()), ("dense", "tp2_ep1", ParallelLayout(tp: 2)),
        ("moe", "tp1_ep1", ParallelLayout()), ("moe", "tp1_ep2", ParallelLayout(ep: 2)),
    ]

    @Test(arguments: cases)
    func megatronCoreRoundTrip(variant: String, name: String, layout: ParallelLayout) throws {
        let dir = Fixtures.scratch("mcore")
        defer { FileSystem.remove(dir) }
        let cfg = try Self.config(variant)
        let cfgDir = FileSystem.join(dir, "cfg")
        try FileSystem.makeDirectory(cfgDir)
        try writeWholeFile(FileSystem.join(cfgDir, "config.json"), Array(JSONWriter.write(cfg.json).utf8))
        let original = try Fixtures.path("mcore_gpt/\(variant)/\(name)/torch_dist")
        let table = try MappingTableLoader.table(forArchitecture: cfg.architectures[0], directory: mappingsDirectory)
        let source = try MegatronSource.open(original)
        let plan = try ExportPlan(reader: try source.reader(hfConfig: cfg, table: table), hfConfig: cfg, table: table,
                                  request: ExportRequest(expertLayout: .perExpert))
        let hfOut = FileSystem.join(dir, "hf")
        try ExportPipeline.run(plan, hfConfig: cfg, configDirectory: nil, to: hfOut, overwrite: false, executor: WriteExecutor())
        let hf = try HFCheckpoint(path: hfOut, mappings: mappingsDirectory)
        #expect(try hf.detectExpertLayout() == (variant == "moe" ? .perExpert : HFExpertLayout.none))
        let importPlan = try ImportPlan(source: hf, request: ImportRequest(layout: layout))
        let back = FileSystem.join(dir, "m")
        try ImportPipeline.run(importPlan, to: back, overwrite: false, executor: WriteExecutor())
        let report = try CheckpointDiff.compare(try TensorCatalog.open(original), try TensorCatalog.open(back))
        #expect(report.isEqual, "\(variant)/\(name): \(report.differing.prefix(3)) \(report.missing.prefix(3)) \(report.extra.prefix(3))")
        // Same chunk structure as megatron-core wrote.
        let oracle = try OracleLayout(original)
        for s in importPlan.storage {
            let ours = s.chunks.map(\.box).sorted { $0.offsets.lexicographicallyPrecedes($1.offsets) }
            let theirs = (oracle.tensors[s.key]?.chunks ?? []).sorted { $0.offsets.lexicographicallyPrecedes($1.offsets) }
            #expect(ours == theirs, "\(s.key)")
        }
        #expect(Set(importPlan.extraStates.map(\.dcpKey)) == Set(oracle.byteKeys))
    }
}
