import Foundation
import Testing
import TensorCore
import TestSupport
import Bridge
import TorchFormats
@testable import CkptBridgeCLI

/// megatron-core ≥ 0.19 keeps the common state in the DCP (`common_state/shard_0_1`, no common.pt).
/// Reading: a Megatron-LM-style save by megatron-core 0.19.2 itself (Fixtures/megatron_core_019: no
/// run_config.yaml, no hf_config/, args only in the common state). Writing: `import --common-state dcp`
/// holds the same common state as the common.pt of the default import, in the item 0.19 reads.
@Suite struct CommonStateTests {
    static let fixture = "megatron_core_019/dense_tiny_train"

    @Test func megatronCore019TrainingSaveExportsWithItsArgs() throws {
        let root = try Fixtures.path(Self.fixture), hf = try Fixtures.path("qwen3_vl_dense_tiny/hf_bf16")
        let c = try TorchDistCheckpoint(path: root, asMegatron: true)
        #expect(!FileSystem.exists(FileSystem.join(c.directory, TorchDistCheckpoint.commonFileName)))
        #expect(c.metadataJSON?["common_backend"] == nil && c.byteKeys.contains(TorchDistCheckpoint.commonStateKey))
        let args = try #require(try c.commonState?["args"])
        guard case let .object(o) = args else { Issue.record("args is a \(args.kindDescription)"); return }
        #expect(o.qualifiedName == "argparse.Namespace")
        #expect(args["num_layers"]?.intValue == 4 && args["iteration"]?.intValue == 2)
        // The tracker's iteration, exported bit-exact with the config the args agree with.
        let dir = Fixtures.scratch("mcore019-export")
        defer { FileSystem.remove(dir) }
        let out = FileSystem.join(dir, "hf")
        #expect(exitStatus(["export", root, out, "--hf-config", hf, "--quiet"]) == 0)
        #expect(exitStatus(["diff", hf, out]) == 0)
        // Without a config there is nothing to rebuild config.json from; with another model's, the args refuse it.
        #expect(exitStatus(["export", root, FileSystem.join(dir, "none"), "--quiet"]) == 2)
        do {
            _ = try MegatronCheckpoint.open(root)
            Issue.record("opened without a config")
        } catch let e as BridgeError {
            #expect(e.code == .config && e.summary.contains("its Megatron-LM args describe num_layers=4 hidden_size=64"), "\(e)")
        }
        do {
            _ = try MegatronCheckpoint.open(root, hfConfig: try Fixtures.path("qwen3_vl_moe_tiny/hf"))
            Issue.record("the MoE config was accepted for a dense checkpoint")
        } catch let e as BridgeError {
            #expect(e.code == .config && e.key == "args.num_layers", "\(e)")
        }
        #expect(!FileSystem.exists(FileSystem.join(dir, "none")))
    }

    @Test func importCommonStateDCPHoldsWhatCommonPTHolds() throws {
        let hf = try Fixtures.path("qwen3_vl_dense_tiny/hf")
        let dir = Fixtures.scratch("common-state-dcp")
        defer { FileSystem.remove(dir) }
        let a = FileSystem.join(dir, "file"), b = FileSystem.join(dir, "dcp")
        #expect(exitStatus(["import", hf, a, "--tp", "2", "--quiet"]) == 0)
        #expect(exitStatus(["import", hf, b, "--tp", "2", "--common-state", "dcp", "--quiet"]) == 0)
        let file = try TorchDistCheckpoint(path: a), dcp = try TorchDistCheckpoint(path: b)
        #expect(!FileSystem.exists(FileSystem.join(dcp.directory, TorchDistCheckpoint.commonFileName)))
        #expect(!file.byteKeys.contains(TorchDistCheckpoint.commonStateKey))
        // The item is a one-element list around the very dict common.pt holds.
        let item = try dcp.bytesItem(TorchDistCheckpoint.commonStateKey)
        #expect(item.listValue?.count == 1)
        #expect(try dcp.commonState == (try file.commonState))
        // metadata.json as megatron-core 0.19.2 wrote it in the fixture.
        let upstream = try TorchDistCheckpoint(path: try Fixtures.path(Self.fixture))
        #expect(dcp.metadataJSON == upstream.metadataJSON)
        // The item sits where 0.19 puts it: rank 0's file, a bytes entry of the .metadata.
        #expect(try dcp.metadata.byteKeys.contains(TorchDistCheckpoint.commonStateKey))
        #expect(exitStatus(["diff", a, b]) == 0)
        #expect(exitStatus(["import", hf, FileSystem.join(dir, "legacy"), "--format", "legacy", "--common-state", "dcp"]) == 64)
    }
}
