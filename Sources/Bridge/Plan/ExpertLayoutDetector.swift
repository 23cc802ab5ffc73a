import TensorCore

/// Decides how an HF checkpoint stores its experts, from its keys and shapes (never from a version
/// string): fused tensors (and in which orientation) or one tensor per expert. A checkpoint that holds
/// both, or whose fused shapes fit both orientations (H == 2I or H == I), is refused.
public enum ExpertLayoutDetector {
    /// - Parameter shapeOf: the shape of a tensor in the checkpoint, nil when absent.
    public static func detect(table: MappingTable, hfConfig: HFConfig, names: [String],
                              shapeOf: (String) -> [Int]?) throws -> HFExpertLayout {
        let language = try ProviderBuilder.language(hfConfig, section: table.textSection)
        guard language.isMoE else { return .none }
        let fusedRules = table.tensors.filter { $0.when.contains(.fusedExperts) }
        let perRules = table.tensors.filter { $0.when.contains(.perExpert) }
        let fusedNames = names.filter { n in fusedRules.contains { r in r.hf.contains { $0.pattern.match(n) != nil } } }
        let perNames = names.filter { n in perRules.contains { r in r.hf.contains { $0.pattern.match(n) != nil } } }
        if !fusedNames.isEmpty && !perNames.isEmpty {
            throw BridgeError(.expertLayout, "the checkpoint mixes fused and per-expert tensors (e.g. '\(fusedNames[0])' and '\(perNames[0])')",
                              key: fusedNames[0], hint: "re-save it with a single expert layout; a mixed checkpoint would leave experts unconverted")
        }
        if !perNames.isEmpty { return .perExpert }
        guard !fusedNames.isEmpty else {
            throw BridgeError(.missingKeys, "the config declares \(language.numMoeExperts ?? 0) experts but the checkpoint has no expert tensors",
                              hint: "check that every shard of the checkpoint is present")
        }
        // Orientation: compare actual shapes with the declared (hub) ones and their transpose.
        let vision = try table.visionSection.map { try ProviderBuilder.vision(hfConfig, section: $0) }
        let symbols = ShapeSymbols(language: language, vision: vision, paddedVocab: language.vocabSize)
        var found: FusedOrientation?
        for rule in fusedRules {
            guard let src = rule.hf.first, let dims = src.shape else { continue }
            let hub = try dims.map { try symbols.evaluate($0, table: rule.origin) }
            var v5 = hub
            if v5.count == 3 { v5.swapAt(1, 2) }
            for n in fusedNames where src.pattern.match(n) != nil {
                guard let actual = shapeOf(n) else { continue }
                let o: FusedOrientation
                if hub == v5 && actual == hub {
                    throw BridgeError(.expertLayout, "fused expert tensor \(Shape.describe(actual)) reads the same in both orientations (hidden == intermediate dims)",
                                      key: n, hint: "save the checkpoint with per-expert tensors; the fused layout is ambiguous for these sizes")
                } else if actual == hub {
                    o = .hub
                } else if actual == v5 {
                    o = .v5
                } else {
                    throw BridgeError(.shape, "fused expert tensor has shape \(Shape.describe(actual)); the config implies \(Shape.describe(hub)) (hub) or \(Shape.describe(v5)) (transformers 5)",
                                      key: n, hint: "check that config.json belongs to these weights")
                }
                if let f = found, f != o {
                    throw BridgeError(.expertLayout, "fused expert tensors use both orientations", key: n,
                                      hint: "re-save the checkpoint with one transformers version")
                }
                found = o
            }
        }
        return .fused(found ?? .hub)
    }
}
