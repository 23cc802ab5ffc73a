import TensorCore

extension ModelContext {
    /// The context of a stored Megatron checkpoint: the vision layout is the one whose parameters the
    /// checkpoint holds, and the vocabulary is as many rows as it stores (padded ones included). No parallel
    /// layout enters: parameters are read whole.
    public static func reading(_ reader: MegatronParameterReader, table: MappingTable, hfConfig: HFConfig,
                               expertLayout: HFExpertLayout) throws -> ModelContext {
        var candidates = [(VisionLayout, [MegatronParameter])]()
        for l in table.visionLayouts {
            let c = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: l, expertLayout: expertLayout)
            candidates.append((l, try ParameterBuilder.parameters(c)))
        }
        let vision = try reader.visionLayout(candidates: candidates)
        let probe = try ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: expertLayout)
        var rows: Int?
        for p in try ParameterBuilder.parameters(probe) where p.rule.transform == .vocab {
            if let r = try reader.vocabularyRows(of: p) { rows = max(rows ?? 0, r) }
        }
        return try ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: expertLayout,
                                paddedVocab: { rows ?? $0 })
    }
}
