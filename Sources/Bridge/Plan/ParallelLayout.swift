/// The parallel layout of a Megatron checkpoint: tensor (TP), pipeline (PP), expert (EP) and expert-tensor
/// (ETP) parallel sizes, optional uneven first/last pipeline stages, and vocab padding.
///
/// Ranks follow Megatron's default order: within a pipeline stage there are `lcm(TP, ETP·EP)` ranks;
/// rank `i` has TP rank `i % TP` for dense parameters and, for experts, ETP rank `i % ETP` and EP rank
/// `(i / ETP) % EP`. Stage `p`'s ranks are `p·W ..< (p+1)·W`.
public struct ParallelLayout: Equatable, Sendable, CustomStringConvertible {
    public var tp: Int
    public var pp: Int
    public var ep: Int
    /// Expert tensor parallel size; Megatron defaults it to TP.
    public var etp: Int
    /// Layers on the first / last pipeline stage when they differ from an even split.
    public var firstStageLayers: Int?
    public var lastStageLayers: Int?
    /// Pad the vocabulary to a multiple of 128·TP (Megatron-LM's `padded_vocab_size`).
    public var padVocab: Bool

    public init(tp: Int = 1, pp: Int = 1, ep: Int = 1, etp: Int? = nil, firstStageLayers: Int? = nil,
                lastStageLayers: Int? = nil, padVocab: Bool = false) {
        self.tp = tp
        self.pp = pp
        self.ep = ep
        self.etp = etp ?? tp
        self.firstStageLayers = firstStageLayers
        self.lastStageLayers = lastStageLayers
        self.padVocab = padVocab
    }

    public var description: String {
        var s = "TP\(tp)·PP\(pp)·EP\(ep)·ETP\(etp)"
        if padVocab { s += " (vocab padded)" }
        return s
    }

    /// Ranks per pipeline stage: the smallest world Megatron accepts for this layout.
    public var ranksPerStage: Int { lcm(tp, etp * ep) }
    public var worldSize: Int { ranksPerStage * pp }

    /// Megatron-LM's `make_vocab_size_divisible_by` default: padding rounds the vocabulary up to a multiple of
    /// this times TP, and Megatron-Bridge's provider takes the largest power of two up to it that divides it.
    public static let vocabDivisor = 128

    /// The Megatron vocabulary size for an HF vocabulary of `vocab` rows.
    public func paddedVocab(_ vocab: Int, divisibleBy: Int = ParallelLayout.vocabDivisor) -> Int {
        guard padVocab else { return vocab }
        let m = divisibleBy * tp
        return (vocab + m - 1) / m * m
    }

    /// The layers of each pipeline stage.
    public func stageLayers(numLayers: Int) throws -> [Range<Int>] {
        if pp == 1 { return [0..<numLayers] }
        let first = firstStageLayers, last = lastStageLayers
        let middleStages = pp - (first == nil ? 0 : 1) - (last == nil ? 0 : 1)
        let rest = numLayers - (first ?? 0) - (last ?? 0)
        guard rest >= 0, middleStages >= 0, middleStages == 0 ? rest == 0 : rest % middleStages == 0 else {
            throw BridgeError(.layout, "\(numLayers) layers cannot be split over \(pp) pipeline stages" +
                              (first != nil || last != nil ? " with \(first ?? 0) first and \(last ?? 0) last" : ""),
                              hint: "choose PP dividing the layer count, or set --pp-first-layers / --pp-last-layers")
        }
        let per = middleStages == 0 ? 0 : rest / middleStages
        var sizes = [Int](repeating: per, count: pp)
        if let first { sizes[0] = first }
        if let last { sizes[pp - 1] = last }
        var out = [Range<Int>]()
        var start = 0
        for s in sizes {
            guard s > 0 else { throw BridgeError(.layout, "a pipeline stage would hold no layers", hint: "use fewer pipeline stages") }
            out.append(start..<(start + s))
            start += s
        }
        return out
    }

    /// Checks, up front, everything that must divide: query groups by TP, experts by EP, the vocabulary
    /// by TP, sizes by ETP, layers by PP. Errors say which number and how to fix it.
    public func validate(language l: LanguageProvider, vision v: VisionProvider?, visionSharded: Bool) throws {
        for (name, value) in [("--tp", tp), ("--pp", pp), ("--ep", ep), ("--etp", etp)] where value < 1 {
            throw BridgeError(.request, "\(name) must be at least 1, got \(value)")
        }
        guard l.numQueryGroups % tp == 0 else {
            throw BridgeError(.layout, "TP \(tp) does not divide the \(l.numQueryGroups) query groups (num_key_value_heads)",
                              hint: "choose --tp among the divisors of \(l.numQueryGroups)")
        }
        guard l.numAttentionHeads % tp == 0 else {
            throw BridgeError(.layout, "TP \(tp) does not divide the \(l.numAttentionHeads) attention heads")
        }
        if l.denseLayers.count > 0, l.ffnHiddenSize % tp != 0 {
            throw BridgeError(.layout, "TP \(tp) does not divide ffn_hidden_size \(l.ffnHiddenSize)")
        }
        if l.isMoE {
            let e = l.numMoeExperts ?? 0
            guard e % ep == 0 else {
                throw BridgeError(.layout, "EP \(ep) does not divide the \(e) experts", hint: "choose --ep among the divisors of \(e)")
            }
            guard (l.moeFfnHiddenSize ?? 0) % etp == 0 else {
                throw BridgeError(.layout, "ETP \(etp) does not divide moe_intermediate_size \(l.moeFfnHiddenSize ?? 0)")
            }
        } else if ep != 1 {
            throw BridgeError(.layout, "EP \(ep) asked for a model without experts", hint: "drop --ep")
        }
        let vp = paddedVocab(l.vocabSize)
        guard vp % tp == 0 else {
            throw BridgeError(.layout, "TP \(tp) does not divide the vocabulary of \(l.vocabSize)",
                              hint: "pass --pad-vocab to pad it to a multiple of \(Self.vocabDivisor * tp)")
        }
        _ = try stageLayers(numLayers: l.numLayers)
        if let v, visionSharded {
            guard v.numHeads % tp == 0, v.intermediateSize % tp == 0, v.mergedHiddenSize % tp == 0 else {
                throw BridgeError(.layout, "TP \(tp) does not divide the vision tower (\(v.numHeads) heads, intermediate \(v.intermediateSize))",
                                  hint: "use --vision-layout hf (replicated vision) or a TP dividing the vision sizes")
            }
        }
    }
}

func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
func lcm(_ a: Int, _ b: Int) -> Int { a / gcd(a, b) * b }
