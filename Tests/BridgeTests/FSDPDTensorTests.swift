import Testing
import TensorCore
import TestSupport
import TorchFormats
@testable import Bridge

/// Megatron FSDP's `fsdp_dtensor` against megatron-core 0.16.1's own Megatron-FSDP saves of the tiny models
/// (`Fixtures/fsdp_dtensor/`, `scripts/oracle/make_fsdp_dtensor_fixtures.py`): read, our export equals
/// transformers' bf16 weights; written, our import equals megatron-core's save tensor for tensor, key for key.
@Suite struct FSDPDTensorTests {
    static let variants = ["dense", "moe"]

    static func fixture(_ variant: String) throws -> String { try Fixtures.path("fsdp_dtensor/\(variant)") }
    static func hfConfig(_ variant: String) throws -> String { try Fixtures.path("qwen3_vl_\(variant)_tiny/hf") }

    @Test(arguments: variants)
    func detectedAsMegatronBridgeDetectsIt(variant: String) throws {
        #expect(try CheckpointFormat.detect(try Self.fixture(variant)) == .fsdpDTensor)
        // A torch_dist folder (metadata.json, common.pt) stays torch_dist.
        #expect(try CheckpointFormat.detect(try Fixtures.path("qwen3_vl_\(variant)_tiny/bridge_tp1_ep1/megatron")) == .torchDist)
    }

    /// Export (cast to bf16 as transformers casts) equals transformers' own bf16 save of the model.
    @Test(arguments: variants)
    func exportEqualsTransformersWeights(variant: String) throws {
        let checkpoint = try MegatronCheckpoint.open(try Self.fixture(variant), hfConfig: try Self.hfConfig(variant), mappings: mappingsDirectory)
        let plan = try ExportPlan(reader: try checkpoint.parameterReader(), hfConfig: checkpoint.hfConfig, table: checkpoint.table,
                                  request: ExportRequest(expertLayout: .v5, dtype: .bf16))
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_\(variant)_tiny/hf_bf16"), mappings: mappingsDirectory)
        #expect(Set(plan.hfTensors.map(\.name)) == Set(hf.weights.names))
        for t in plan.hfTensors {
            #expect(try TensorHashing.xxh3(try plan.hfSource(t)) == TensorHashing.xxh3(try hf.weights.tensor(t.name)), "\(variant): \(t.name)")
        }
    }

    /// Our import writes megatron-core's keys (SequentialMLP expert names, as the CPU oracle's model has), and
    /// every tensor equals its save; the grouped (TE) names read back to the same tensors.
    @Test(arguments: variants)
    func importEqualsMegatronFSDPSave(variant: String) throws {
        let dir = Fixtures.scratch("fsdp")
        defer { FileSystem.remove(dir) }
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_\(variant)_tiny/hf_bf16"), mappings: mappingsDirectory)
        func write(_ naming: FSDPDTensorNames.ExpertNaming) throws -> String {
            let out = FileSystem.join(dir, naming.rawValue)
            let plan = try ImportPlan(source: hf, request: ImportRequest(format: .fsdpDTensor, dtype: .f32, visionLayout: .hf, iteration: 7,
                                                                         fsdpExpertNaming: naming))
            try ImportPipeline.run(plan, to: out, overwrite: false, executor: WriteExecutor())
            return out
        }
        let sequential = try write(.sequential), grouped = try write(.grouped)
        let oracle = try TorchDistCheckpoint(path: try Self.fixture(variant))
        let ours = try TorchDistCheckpoint(path: sequential)
        #expect(ours.tensorKeys == oracle.tensorKeys)
        for k in oracle.tensorKeys {
            #expect(try ours.tensorEntry(k).size == oracle.tensorEntry(k).size && ours.tensorEntry(k).dtype == oracle.tensorEntry(k).dtype, "\(k)")
            #expect(try TensorHashing.xxh3(try ours.tensor(k)) == TensorHashing.xxh3(try oracle.tensor(k)), "\(variant): \(k)")
        }
        #expect(Set(oracle.byteKeys).isSubset(of: Set(ours.byteKeys)))
        #expect(try CheckpointFormat.detect(sequential) == .fsdpDTensor)
        let report = try CheckpointDiff.compare(try TensorCatalog.open(try Self.fixture(variant)), try TensorCatalog.open(grouped))
        #expect(report.isEqual, "\(report.differing.prefix(3)) \(report.missing.prefix(3)) \(report.extra.prefix(3))")
        if variant == "moe" {
            let keys = try TorchDistCheckpoint(path: grouped).tensorKeys
            #expect(keys.contains("model.module.language_model.decoder.layers.2.mlp.experts.linear_fc1.weight7_v"))
            #expect(!keys.contains { $0.contains("local_experts") })
        }
    }

    /// Every name in megatron-core's save maps to a storage key and back to itself.
    @Test(arguments: variants)
    func namesRoundTripThroughStorageKeys(variant: String) throws {
        let oracle = try TorchDistCheckpoint(path: try Self.fixture(variant))
        for k in oracle.tensorKeys {
            let path = try #require(FSDPDTensorNames.modulePath(k))
            let p = FSDPDTensorNames.piece(modulePath: path)
            let back = FSDPDTensorNames.dcpKey(modulePath: FSDPDTensorNames.modulePath(storageKey: p.storageKey, layer: p.layer, expert: p.expert,
                                                                                      naming: .sequential), half: p.half)
            #expect(back == k)
            let stacked = FSDPDTensorNames.stackedAxes(storageKey: p.storageKey)
            #expect(stacked.layers == (p.layer != nil) && stacked.experts == (p.expert != nil), "\(k)")
        }
    }

    /// The `args` item our import writes (as Megatron-LM saves it) is read back and checked against --hf-config.
    @Test func argsAreCheckedAgainstTheConfig() throws {
        let dir = Fixtures.scratch("fsdp-args")
        defer { FileSystem.remove(dir) }
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf_bf16"), mappings: mappingsDirectory)
        let out = FileSystem.join(dir, "m")
        try ImportPipeline.run(try ImportPlan(source: hf, request: ImportRequest(format: .fsdpDTensor, visionLayout: .hf)), to: out,
                               overwrite: false, executor: WriteExecutor())
        let source = try MegatronSource.open(out)
        let args = try #require(try MegatronArgsCheck.args(of: source))
        #expect(args["num_layers"]?.intValue == 3)
        #expect(throws: BridgeError.self) { _ = try MegatronCheckpoint(source: source, hfConfig: try Self.hfConfig("dense"), mappings: mappingsDirectory) }
        _ = try MegatronCheckpoint(source: source, hfConfig: try Self.hfConfig("moe"), mappings: mappingsDirectory)
    }

    @Test func aParallelLayoutIsRefused() throws {
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/hf_bf16"), mappings: mappingsDirectory)
        #expect(throws: BridgeError.self) { _ = try ImportPlan(source: hf, request: ImportRequest(layout: ParallelLayout(tp: 2), format: .fsdpDTensor)) }
    }

    /// A piece missing (one SwiGLU half, one layer) is an error naming it, not a smaller tensor.
    @Test func incompletePiecesAreRefused() throws {
        let dir = Fixtures.scratch("fsdp-bad")
        defer { FileSystem.remove(dir) }
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/hf_bf16"), mappings: mappingsDirectory)
        let plan = try ImportPlan(source: hf, request: ImportRequest(format: .fsdpDTensor, visionLayout: .hf))
        let cases = [("model.module.language_model.decoder.layers.1.mlp.linear_fc1.weight_v", "incomplete"),
                     ("model.module.language_model.decoder.layers.1.self_attention.linear_proj.weight", "lack layer 1")]
        for (i, (dropped, words)) in cases.enumerated() {
            let out = FileSystem.join(dir, "\(i)")
            try ImportPipeline.run(plan, to: out, overwrite: false, executor: WriteExecutor())
            // The same save with one tensor taken out of its metadata.
            let ckpt = try TorchDistCheckpoint(path: out)
            var md = ckpt.metadata
            #expect(md.entries.contains { $0.key == dropped })
            md.entries.removeAll { $0.key == dropped }
            md.storage.removeAll { $0.index.fqn == dropped }
            try writeWholeFile(FileSystem.join(ckpt.directory, TorchDistCheckpoint.metadataFileName), try md.serialized())
            let error = try #require(throws: BridgeError.self) { _ = try FSDPDTensorStore(try TorchDistCheckpoint(path: out)) }
            #expect(error.summary.contains(words), "\(error.summary)")
            #expect(error.summary.contains(dropped) || words != "incomplete", "\(error.summary)")
        }
    }
}
