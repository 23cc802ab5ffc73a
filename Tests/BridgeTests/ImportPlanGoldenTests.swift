import SafeTensors
import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Import plans must reproduce what Megatron-Bridge itself wrote for the fixtures: the same keys, dtypes,
/// global shapes and chunk structure per layout, and global tensors with the same bytes, from both HF
/// expert layouts (transformers-5 `hf/` and hub `hf_v4/`).
@Suite struct ImportPlanGoldenTests {
    static let cases: [(BridgeFixture, String)] = BridgeFixture.all.flatMap { f in [(f, "hf"), (f, "hf_v4")] }

    @Test(arguments: cases)
    func planMatchesMegatronBridge(fixture: BridgeFixture, hfDir: String) throws {
        let hf = try HFCheckpoint(path: try Fixtures.path("\(fixture.model)/\(hfDir)"), mappings: mappingsDirectory)
        let plan = try ImportPlan(source: hf, request: ImportRequest(layout: fixture.layout, visionLayout: fixture.visionLayout))
        let oracle = try OracleLayout(try fixture.iterationDirectory)

        #expect(Set(plan.storage.map(\.key)) == Set(oracle.tensors.keys), "\(fixture) from \(hfDir): tensor keys")
        for s in plan.storage {
            guard let o = oracle.tensors[s.key] else { continue }
            #expect(torchName(s.dtype) == o.dtype, "\(s.key)")
            #expect(s.shape == o.shape, "\(s.key)")
            let ours = s.chunks.map(\.box).sorted { $0.offsets.lexicographicallyPrecedes($1.offsets) }
            let theirs = o.chunks.sorted { $0.offsets.lexicographicallyPrecedes($1.offsets) }
            #expect(ours == theirs, "\(fixture) \(s.key): chunk structure")
        }
        let ourBytes = Set(plan.extraStates.map(\.dcpKey))
        let theirBytes = Set(oracle.byteKeys.filter { !$0.hasPrefix("common_state/") })
        #expect(ourBytes == theirBytes, "\(fixture): _extra_state objects")
    }

    @Test(arguments: cases)
    func globalTensorsMatchMegatronBridgeBytes(fixture: BridgeFixture, hfDir: String) throws {
        let hf = try HFCheckpoint(path: try Fixtures.path("\(fixture.model)/\(hfDir)"), mappings: mappingsDirectory)
        let plan = try ImportPlan(source: hf, request: ImportRequest(layout: fixture.layout, visionLayout: fixture.visionLayout))
        let oracle = try SafeTensorsCheckpoint(path: try fixture.globalTensors)
        #expect(Set(plan.storage.map(\.key)) == Set(oracle.names))
        for s in plan.storage {
            let ours = try TensorHashing.xxh3(try plan.storageSource(s))
            let theirs = try TensorHashing.xxh3(try oracle.tensor(s.key))
            #expect(ours == theirs, "\(fixture) from \(hfDir): bytes of \(s.key)")
        }
    }
}
