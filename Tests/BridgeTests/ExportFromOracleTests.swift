import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Export reads Megatron global tensors and must reproduce the original HF tensors bit for bit. Here the
/// global tensors are the oracle's own reassembly of each Megatron-Bridge checkpoint (reading the
/// checkpoints themselves is covered once the torch_dist reader is in place).
@Suite struct ExportFromOracleTests {
    static let cases: [(BridgeFixture, String, ExpertLayoutChoice)] = BridgeFixture.all.flatMap { f in
        [(f, "hf", .v5), (f, "hf_v4", .hub)]
    }

    @Test(arguments: cases)
    func exportReproducesHFTensors(fixture: BridgeFixture, hfDir: String, experts: ExpertLayoutChoice) throws {
        let hfPath = try Fixtures.path("\(fixture.model)/\(hfDir)")
        let hf = try HFCheckpoint(path: hfPath, mappings: mappingsDirectory)
        let store = try SafeTensorsCheckpoint(path: try fixture.globalTensors)
        let reader = StorageTensorReader(store: store, path: store.directory)
        let plan = try ExportPlan(reader: reader, hfConfig: hf.config, table: hf.table, request: ExportRequest(expertLayout: experts))
        #expect(plan.context.visionLayout == fixture.visionLayout)
        #expect(Set(plan.hfTensors.map(\.name)) == Set(hf.weights.names))
        for t in plan.hfTensors {
            let ours = try TensorHashing.xxh3(try plan.hfSource(t))
            let theirs = try TensorHashing.xxh3(try hf.weights.tensor(t.name))
            #expect(ours == theirs, "\(fixture) → \(hfDir): \(t.name)")
        }
    }

    @Test func exportWritesALoadableCheckpoint() throws {
        let hfPath = try Fixtures.path("qwen3_vl_moe_tiny/hf")
        let hf = try HFCheckpoint(path: hfPath, mappings: mappingsDirectory)
        let store = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/megatron_global_tensors.safetensors"))
        let plan = try ExportPlan(reader: StorageTensorReader(store: store, path: store.directory), hfConfig: hf.config,
                                  table: hf.table, request: ExportRequest(expertLayout: .v5, maxShardSize: 1_000_000))
        let dir = Fixtures.scratch("export")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "hf")
        try ExportPipeline.run(plan, hfConfig: hf.config, configDirectory: hfPath, to: out, overwrite: false, executor: WriteExecutor())
        let back = try SafeTensorsCheckpoint(path: out)
        #expect(back.indexed)
        let report = try CheckpointDiff.compare(try TensorCatalog.open(hfPath), try TensorCatalog.open(out))
        #expect(report.isEqual, "\(report.differing.prefix(3))")
        #expect(FileSystem.isFile(FileSystem.join(out, "preprocessor_config.json")))
        let cfg = try HFConfig(directory: out)
        #expect(cfg.json.equalsIgnoringOrder(hf.config.json))
    }

    @Test func unusedStoredTensorsAreAnError() throws {
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/hf"), mappings: mappingsDirectory)
        // The MoE global tensors hold keys the dense mapping does not use (and lack some it needs).
        let store = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/megatron_global_tensors.safetensors"))
        #expect(throws: BridgeError.self) {
            _ = try ExportPlan(reader: StorageTensorReader(store: store, path: store.directory), hfConfig: hf.config,
                               table: hf.table, request: ExportRequest())
        }
    }
}
