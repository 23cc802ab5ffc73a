import TensorCore

/// Expands a table's rules over the config into concrete Megatron parameters (and `_extra_state` objects).
///
/// Each rule that applies (its vision layout and conditions hold) runs over the cartesian product of its
/// index domains. `**` rules run over the HF names the other rules declare, whatever their layout, and take
/// their shapes from them. Every Megatron name and every HF name must come out exactly once.
public enum ParameterBuilder {
    public static func parameters(_ c: ModelContext) throws -> [MegatronParameter] {
        var out = [MegatronParameter]()
        var declared = [String: [Int]]()   // HF name -> shape, from every rule whose conditions hold
        var suffixRules = [TensorRule]()
        for rule in c.table.tensors {
            if rule.megatron.hasSuffix {
                if c.applies(conditions: rule.when, layout: rule.layout) { suffixRules.append(rule) }
                continue
            }
            guard rule.when.allSatisfy(c.holds) else { continue }
            let instances = try expand(rule, c)
            for p in instances { for (role, n) in p.hfNames { declared[n] = p.hfShapes[role] } }
            if rule.layout == nil || rule.layout == c.visionLayout { out += instances }
        }
        for rule in suffixRules {
            guard let src = rule.hf.first else { continue }
            for (name, shape) in declared.sorted(by: { $0.key < $1.key }) {
                guard let caps = src.pattern.match(name) else { continue }
                let mg = try rule.megatron.render(caps)
                let t = try Transforms.apply(.copy, hfShapes: ["": shape], context: transformContext(c, expert: nil, rule: rule))
                out.append(MegatronParameter(name: mg, rule: rule, indices: [], hfNames: ["": name], hfShapes: ["": shape],
                                             shape: t.megatronShape, correspondences: t.parts, zeroBoxes: t.zeroBoxes,
                                             storage: try StorageLayout.placement(of: mg, context: c), expert: nil))
            }
        }
        try checkUnique(out, table: c.table.path)
        return out
    }

    public static func extraStates(_ c: ModelContext) throws -> [ExtraStateObject] {
        var out = [ExtraStateObject]()
        for rule in c.table.extraStates where c.applies(conditions: rule.when, layout: rule.layout) {
            for idx in product(rule.over.map(c.indices)) {
                let name = try rule.megatron.render(idx.map(String.init))
                out.append(ExtraStateObject(name: name, storage: try StorageLayout.placement(of: name, context: c),
                                            expert: rule.over.firstIndex(of: .experts).map { idx[$0] }, rule: rule, indices: idx))
            }
        }
        return out
    }

    private static func expand(_ rule: TensorRule, _ c: ModelContext) throws -> [MegatronParameter] {
        var out = [MegatronParameter]()
        for idx in product(rule.over.map(c.indices)) {
            let caps = idx.map(String.init)
            let name = try rule.megatron.render(caps)
            let expert = rule.over.firstIndex(of: .experts).map { idx[$0] }
            var names = [String: String](), shapes = [String: [Int]]()
            for s in rule.hf {
                names[s.role] = try s.pattern.render(caps)
                var shape = try (s.shape ?? []).map { try c.symbols.evaluate($0, table: rule.origin) }
                // Fused experts are declared in hub orientation; transformers-5 swaps the last two axes.
                if rule.transform.indexesIntoHF, case .fused(.v5) = c.expertLayout, shape.count == 3 { shape.swapAt(1, 2) }
                shapes[s.role] = shape
            }
            let t = try Transforms.apply(rule.transform, hfShapes: shapes, context: transformContext(c, expert: expert, rule: rule))
            out.append(MegatronParameter(name: name, rule: rule, indices: idx, hfNames: names, hfShapes: shapes,
                                         shape: t.megatronShape, correspondences: t.parts, zeroBoxes: t.zeroBoxes,
                                         storage: try StorageLayout.placement(of: name, context: c), expert: expert))
        }
        return out
    }

    private static func transformContext(_ c: ModelContext, expert: Int?, rule: TensorRule) -> TransformContext {
        var orientation: FusedOrientation?
        if case let .fused(o) = c.expertLayout { orientation = o }
        return TransformContext(language: c.language, vision: c.vision, paddedVocab: c.paddedVocab,
                                expertIndex: expert, orientation: orientation)
    }

    /// Cartesian product of index lists (one empty tuple when there are none).
    static func product(_ lists: [[Int]]) -> [[Int]] {
        lists.reduce([[]]) { acc, list in acc.flatMap { prefix in list.map { prefix + [$0] } } }
    }

    /// Each Megatron name once; each HF element once (a fused HF tensor feeds one region per expert).
    private static func checkUnique(_ ps: [MegatronParameter], table: String) throws {
        var mg = Set<String>()
        var hf = [String: [(String, Box)]]()
        for p in ps {
            guard mg.insert(p.name).inserted else {
                throw BridgeError(.mappingTable, "two entries produce the Megatron parameter '\(p.name)'", file: table)
            }
            for c in p.correspondences {
                let n = p.hfNames[c.role]!
                let box = c.hfBox
                if let clash = hf[n]?.first(where: { $0.1.intersection(box) != nil && $0.0 != p.name }) {
                    throw BridgeError(.mappingTable, "HF tensor '\(n)' feeds both '\(clash.0)' and '\(p.name)'", file: table)
                }
                hf[n, default: []].append((p.name, box))
            }
        }
    }
}
