/// One entry of tokenizer.json's `added_tokens`.
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Special tokens are dropped by `decode(skipSpecialTokens: true)`.
    public var special: Bool
}

/// The added tokens, matched in the raw text before normalization and pre-tokenization the way
/// tokenizers does: leftmost-longest (at the leftmost position where any token starts, the longest one).
struct AddedVocabulary {
    let tokens: [AddedToken]
    private let byFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], index: Int)]]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        var map = [Unicode.Scalar: [(scalars: [Unicode.Scalar], index: Int)]]()
        for (n, t) in tokens.enumerated() {
            let s = Array(t.content.unicodeScalars)
            map[s[0], default: []].append((s, n))
        }
        byFirstScalar = map
    }

    enum Segment {
        case text(Range<Int>)
        case added(AddedToken)
    }

    /// The text cut at every added token.
    func split(_ text: [Unicode.Scalar]) -> [Segment] {
        var out = [Segment]()
        var start = 0, i = 0
        while i < text.count {
            var best: (length: Int, index: Int)?
            for candidate in byFirstScalar[text[i]] ?? [] where candidate.scalars.count > (best?.length ?? 0) {
                let s = candidate.scalars
                if i + s.count <= text.count, text[i..<(i + s.count)].elementsEqual(s) { best = (s.count, candidate.index) }
            }
            if let best {
                if start < i { out.append(.text(start..<i)) }
                out.append(.added(tokens[best.index]))
                i += best.length
                start = i
            } else {
                i += 1
            }
        }
        if start < text.count { out.append(.text(start..<text.count)) }
        return out
    }
}
