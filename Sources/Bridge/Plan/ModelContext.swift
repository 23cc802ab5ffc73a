import TensorCore

/// How the HF checkpoint stores routed experts.
public enum HFExpertLayout: Equatable, Sendable, CustomStringConvertible {
    /// The model has no experts.
    case none
    /// Fused `gate_up_proj` / `down_proj` tensors, hub or transformers-5 orientation.
    case fused(FusedOrientation)
    /// One tensor per expert and projection.
    case perExpert

    public var description: String {
        switch self {
        case .none: return "none"
        case let .fused(o): return o == .hub ? "fused (hub [E,H,2I])" : "fused (transformers-5 [E,2I,H])"
        case .perExpert: return "per-expert"
        }
    }
}

/// What the mapping needs from the config and the request, in both directions: the family table, the
/// providers, the vision and expert layouts, and the numbers shape expressions use. Nothing here depends
/// on ranks: where parameters live at a parallel layout is `RankPlacement`.
public struct ModelContext {
    public let table: MappingTable
    public let hfConfig: HFConfig
    public let language: LanguageProvider
    public let vision: VisionProvider?
    public let visionLayout: VisionLayout?
    public let expertLayout: HFExpertLayout
    public let paddedVocab: Int
    public let symbols: ShapeSymbols

    /// - Parameter paddedVocab: the Megatron vocabulary rows from the config's vocabulary size: import
    ///   passes its layout's padding rule, export the size found in the checkpoint; by default unpadded.
    public init(table: MappingTable, hfConfig: HFConfig, visionLayout: VisionLayout?, expertLayout: HFExpertLayout,
                paddedVocab: (Int) -> Int = { $0 }) throws {
        self.table = table
        self.hfConfig = hfConfig
        // One validation of the config (the forward pass runs the same), then Megatron-Bridge's providers.
        let spec = try ProviderBuilder.spec(hfConfig, table: table)
        language = ProviderBuilder.language(spec)
        vision = spec.vision.map(ProviderBuilder.vision)
        if vision != nil {
            let l = visionLayout ?? table.visionLayouts.first
            guard let l, table.visionLayouts.contains(l) else {
                throw BridgeError(.request, "vision layout '\(visionLayout?.rawValue ?? "")' is not defined by the \(table.family) table")
            }
            self.visionLayout = l
        } else {
            guard visionLayout == nil else {
                throw BridgeError(.request, "--vision-layout given for the text-only family \(table.family)")
            }
            self.visionLayout = nil
        }
        if language.isMoE {
            guard expertLayout != .none else { throw BridgeError(.expertLayout, "the model has experts but no expert layout was chosen") }
        }
        self.expertLayout = language.isMoE ? expertLayout : .none
        self.paddedVocab = paddedVocab(language.vocabSize)
        symbols = ShapeSymbols(language: language, vision: vision, paddedVocab: self.paddedVocab)
    }

    /// The indices a domain runs over.
    public func indices(_ d: IndexDomain) -> [Int] {
        switch d {
        case .textLayers: return Array(0..<language.numLayers)
        case .denseLayers: return language.denseLayers
        case .moeLayers: return language.moeLayers
        case .experts: return Array(0..<(language.numMoeExperts ?? 0))
        case .visionBlocks: return Array(0..<(vision?.depth ?? 0))
        case .deepstack: return Array(0..<(vision?.deepstackVisualIndexes.count ?? 0))
        }
    }

    /// How many slots a stacked axis over `d` has.
    public func stackCount(_ d: IndexDomain) -> Int {
        switch d {
        case .textLayers, .denseLayers, .moeLayers: return language.numLayers
        case .experts: return language.numMoeExperts ?? 0
        case .visionBlocks: return vision?.depth ?? 0
        case .deepstack: return vision?.deepstackVisualIndexes.count ?? 0
        }
    }

    /// Whether the modules of a stack have identical parameters at every index (then torch_dist stacks them).
    public func isHomogeneous(_ d: IndexDomain) -> Bool {
        switch d {
        case .textLayers, .denseLayers, .moeLayers: return language.homogeneousLayers
        default: return true
        }
    }

    public func holds(_ c: Condition) -> Bool {
        switch c {
        case .tied: return language.shareEmbeddingsAndOutputWeights
        case .untied: return !language.shareEmbeddingsAndOutputWeights
        case .fusedExperts: if case .fused = expertLayout { return true }; return false
        case .perExpert: return expertLayout == .perExpert
        case .qkvBias: return language.addQKVBias
        }
    }

    /// Whether an entry applies to this model and layout.
    public func applies(conditions: [Condition], layout l: VisionLayout?) -> Bool {
        (l == nil || l == visionLayout) && conditions.allSatisfy(holds)
    }
}
