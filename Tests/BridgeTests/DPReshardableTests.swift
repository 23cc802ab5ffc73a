import Testing
import TensorCore
import TestSupport
import TorchFormats
@testable import Bridge

/// DistributedOptimizer `dp_reshardable` state from megatron-core 0.16.1's own DDP + DistributedOptimizer save
/// (`Fixtures/dp_reshardable/`, `scripts/oracle/make_dp_reshardable_save.py`): the flat buckets are training
/// state, and `--weights main-params` refuses them, naming the bucket and what the layout would need.
@Suite struct DPReshardableTests {
    static func checkpoint() throws -> TorchDistCheckpoint {
        try TorchDistCheckpoint(path: try Fixtures.path("dp_reshardable/iter_0000003"), asMegatron: true)
    }

    @Test func bucketsAreTrainingStateNotWeights() throws {
        let c = try Self.checkpoint()
        let buckets = c.tensorKeys.filter(DPReshardableBuckets.isBucket)
        #expect(buckets.count == 3)  // param, exp_avg, exp_avg_sq of megatron-core's one bucket
        for k in buckets { #expect(TrainingStateKind.classify(k) == .optimizer, "\(k)") }
        #expect(try MainParamsStore.shardingType(c) == "dp_reshardable")
    }

    @Test func mainParamsRefusedNamingTheBucket() throws {
        let c = try Self.checkpoint()
        let master = try #require(c.tensorKeys.first { DPReshardableBuckets.isBucket($0) && $0.hasSuffix(".param") })
        let elements = try c.tensorEntry(master).size.reduce(1, *)
        do {
            _ = try MainParamsStore(c)
            Issue.record("dp_reshardable was read as main params")
        } catch let e as BridgeError {
            #expect(e.code == .request)
            #expect(e.key == master)
            #expect(e.file == c.directory)
            #expect(e.summary.contains("dp_reshardable: 1 flat master-weight bucket(s) (\(elements) elements; 3 bucket tensors in all)"), "\(e.summary)")
            #expect(e.summary.contains("named_parameters() order"))
            #expect(e.hint?.contains("--dist-ckpt-optim-fully-reshardable") == true)
        }
    }
}
