import Testing
import TensorCore
import TestSupport
@testable import Bridge

/// Ownership has one rule (`RankPlacement`): the global rank that writes a torch_dist chunk is one of
/// the model-parallel ranks whose legacy file (and C ABI rank view) holds that shard, and every shard is
/// held by some rank of every replica. Checked over the MoE fixture's parameters at several layouts.
@Suite struct RankPlacementTests {
    @Test(arguments: [ParallelLayout(tp: 2, pp: 2, ep: 2, firstStageLayers: 1), ParallelLayout(tp: 2, ep: 2, etp: 1),
                      ParallelLayout(tp: 2, pp: 2, ep: 4, firstStageLayers: 1)])
    func chunkWritersHoldTheirShards(layout: ParallelLayout) throws {
        let hf = try HFCheckpoint(path: try Fixtures.path("qwen3_vl_moe_tiny/hf"), mappings: mappingsDirectory)
        let plan = try ImportPlan(source: hf, request: ImportRequest(layout: layout, visionLayout: .hf))
        let r = plan.placement
        var checked = 0
        for storage in plan.storage {
            for c in storage.chunks {
                let p = plan.parameters[c.parameter]
                let pp = c.rank / layout.ranksPerStage, within = c.rank % layout.ranksPerStage
                // Megatron's rank order: TP within a stage for dense parameters, etp + ETP·ep for experts.
                let holders: [(tp: Int, pp: Int, ep: Int)] = p.parallel.isExpert
                    ? (0..<layout.tp).filter { $0 % layout.etp == within % layout.etp }.map { ($0, pp, within / layout.etp) }
                    : (0..<layout.ep).map { (within, pp, $0) }
                #expect(!holders.isEmpty)
                for h in holders {
                    #expect(try r.shards(of: p, heldBy: h).contains(c.shard), "\(p.name) chunk \(c.box) rank \(c.rank) at \(layout)")
                }
                checked += 1
            }
        }
        #expect(checked > 0)
        // Each `_extra_state` is written by a rank that holds it.
        for x in plan.extraStates {
            let w = plan.placement.writer(of: x)
            let within = w % layout.ranksPerStage
            #expect(r.holds(x, pp: w / layout.ranksPerStage, ep: x.expert == nil ? 0 : within / layout.etp), "\(x.name)")
        }
    }
}
