/// Qwen2's pre-tokenizer split, the regex
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// written out by hand over Unicode scalar properties with the semantics of Oniguruma, the engine
/// `tokenizers` uses: alternatives tried in order, greedy quantifiers that backtrack, `\s` = White_Space,
/// `\p{L}` / `\p{N}` = the L* / N* general categories, and case-insensitive contractions (U+017F LONG S
/// case-folds to `s`). Every scalar starts a match of some alternative and none matches empty, so the
/// pieces tile the text (tokenizers' `Isolated` behaviour keeps each match as one piece).
enum Qwen2Split {
    /// The regex as tokenizer.json spells it; any other pattern is refused.
    static let pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The pieces of `text`, as ranges of scalar indices.
    static func pieces(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        var out = [Range<Int>]()
        var i = 0
        while i < text.count {
            let end = matchEnd(text, at: i)
            out.append(i..<end)
            i = end
        }
        return out
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }
    static func isLineBreak(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }
    /// `[^\s\p{L}\p{N}]`.
    static func isOther(_ s: Unicode.Scalar) -> Bool { !isSpace(s) && !isLetter(s) && !isNumber(s) }

    /// The contractions in the order the alternation tries them, each letter with the scalars that
    /// case-fold to it.
    private static let contractions: [[Set<Unicode.Scalar>]] = {
        let fold: (Character) -> Set<Unicode.Scalar> = { c in
            var set: Set<Unicode.Scalar> = [c.unicodeScalars.first!, Character(c.uppercased()).unicodeScalars.first!]
            if c == "s" { set.insert("\u{017F}") }
            return set
        }
        return ["s", "t", "re", "ve", "m", "ll", "d"].map { $0.map(fold) }
    }()

    /// Where the match starting at `i` ends (exclusive).
    static func matchEnd(_ c: [Unicode.Scalar], at i: Int) -> Int {
        let n = c.count
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c[i] == "'" {
            for letters in contractions where i + letters.count < n {
                if letters.indices.allSatisfy({ letters[$0].contains(c[i + 1 + $0]) }) { return i + 1 + letters.count }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+ (the optional scalar can never be a letter, so no backtracking choice)
        if isLetter(c[i]) { return letterRunEnd(c, from: i) }
        if !isLineBreak(c[i]), !isNumber(c[i]), i + 1 < n, isLetter(c[i + 1]) { return letterRunEnd(c, from: i + 1) }
        // \p{N}
        if isNumber(c[i]) { return i + 1 }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        var j = i
        if c[j] == " ", j + 1 < n, isOther(c[j + 1]) { j += 1 }
        if isOther(c[j]) {
            while j < n, isOther(c[j]) { j += 1 }
            while j < n, isLineBreak(c[j]) { j += 1 }
            return j
        }
        // c[i] is whitespace from here on.
        var w = i
        while w < n, isSpace(c[w]) { w += 1 }
        // \s*[\r\n]+ : \s* gives back scalars until one line break is left; it ends after the last break of the run.
        if let last = (i..<w).last(where: { isLineBreak(c[$0]) }) { return last + 1 }
        // \s+(?!\S) : the whole run at the end of the text, else all but its last scalar.
        if w == n { return w }
        if w - i >= 2 { return w - 1 }
        // \s+
        return w
    }

    private static func letterRunEnd(_ c: [Unicode.Scalar], from start: Int) -> Int {
        var j = start
        while j < c.count, isLetter(c[j]) { j += 1 }
        return j
    }
}
