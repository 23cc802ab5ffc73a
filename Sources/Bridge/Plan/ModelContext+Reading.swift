import TensorCore

extension ModelContext {
    /// The context of a stored Megatron checkpoint: the vision layout is the one whose parameters the
    /// checkpoint holds, and the vocabulary is as many rows as it stores (padded ones included). No parallel
    /// layout enters: parameters are read whole.
    public static func reading(_ reader: MegatronParameterReader, table: MappingTable, hfConfig: HFConfig,
                               expertLayout: HFExpertLayout) throws -> ModelContext {
        func unpadded(_ vision: VisionLayout?) throws -> [MegatronParameter] {
            try ParameterBuilder.parameters(ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: expertLayout))
        }
        let candidates = try table.visionLayouts.map { ($0, try unpadded($0)) }
        let vision = try reader.visionLayout(candidates: candidates)
        // The vocabulary rows are read from the chosen layout's vocab-parallel parameters.
        let chosen = try candidates.first { $0.0 == vision }?.1 ?? unpadded(vision)
        var rows: Int?
        for p in chosen where p.rule.transform == .vocab {
            if let r = try reader.vocabularyRows(of: p) { rows = max(rows ?? 0, r) }
        }
        return try ModelContext(table: table, hfConfig: hfConfig, visionLayout: vision, expertLayout: expertLayout,
                                paddedVocab: { rows ?? $0 })
    }
}
