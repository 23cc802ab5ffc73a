import Bridge
import TensorCore

extension FuzzTargets {
    /// The bytes are a `config.json`: validated into a ModelSpec and planned for import at TP1 and at
    /// a split layout, as `plan import` does.
    public static let config = FuzzTarget(
        name: "config", summary: "config.json → HFConfig → mapping table → ModelSpec/providers → parameters (plan)"
    ) { bytes in
        let config = try HFConfig(json: try JSONParser.parse(bytes), path: "config.json")
        try ConfigPlanning.plan(config)
    }
}

/// What `plan import` derives from a config before it looks at any weight.
enum ConfigPlanning {
    /// The bundled tables, loaded once.
    static let tables: [MappingTable] = {
        do { return try MappingTableLoader.loadAll(directory: FuzzPaths.mappings) } catch {
            fatalError("fuzz: cannot load the mapping tables from \(FuzzPaths.mappings): \(error)")
        }
    }()

    static func plan(_ config: HFConfig) throws {
        guard let arch = config.architectures.first else {
            _ = try MappingTableLoader.table(for: config, directory: FuzzPaths.mappings)  // the refusal the CLI gives
            return
        }
        guard let table = tables.first(where: { $0.architectures.contains(arch) }) else { return }
        let spec = try ProviderBuilder.spec(config, table: table)
        let moe = ProviderBuilder.language(spec).isMoE
        let experts: HFExpertLayout = moe ? .fused(.hub) : .none
        // TP1 plans every valid config; a split layout may be refused (typed), and must not trap either.
        try plan(config, table: table, experts: experts, layout: ParallelLayout())
        do {
            try plan(config, table: table, experts: experts, layout: ParallelLayout(tp: 2, ep: moe ? 2 : 1))
        } catch {
            FuzzCheck.typed(error, target: "config")
        }
    }

    private static func plan(_ config: HFConfig, table: MappingTable, experts: HFExpertLayout, layout: ParallelLayout) throws {
        let context = try ModelContext(table: table, hfConfig: config, visionLayout: nil, expertLayout: experts, paddedVocab: { layout.paddedVocab($0) })
        try layout.validate(language: context.language, vision: context.vision, visionSharded: context.visionLayout == .megatron)
        _ = try RankPlacement(layout: layout, language: context.language)
        _ = try ParameterBuilder.parameters(context)
        _ = try ParameterBuilder.extraStates(context)
    }
}
