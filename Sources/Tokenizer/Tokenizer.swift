import TensorCore

/// A Qwen2-style byte-level BPE tokenizer read from tokenizer.json, encoding and decoding exactly as
/// Hugging Face `tokenizers` does (checked against it on thousands of strings by TokenizerTests).
///
/// Encoding: the added tokens are cut out of the raw text first (leftmost-longest); each remaining
/// segment is NFC-normalized, split by Qwen2's pre-tokenizer regex, turned into bytes, and each piece is
/// merged by BPE. Decoding maps the byte-level tokens back to bytes, keeps added tokens as written, and
/// replaces ill-formed UTF-8 with U+FFFD.
public struct Tokenizer {
    let model: BPEModel
    let addedVocabulary: AddedVocabulary
    let normalizeNFC: Bool
    /// Where it was read from (for errors).
    public let path: String

    /// The added tokens (special and not), in file order.
    public var addedTokens: [AddedToken] { addedVocabulary.tokens }
    /// One more than the largest id (vocabulary and added tokens).
    public var idCount: Int { model.tokens.count }

    /// Reads `tokenizer.json` from a folder, or the file itself.
    public init(path: String) throws {
        let file = path.hasSuffix(".json") ? path : FileSystem.join(path, "tokenizer.json")
        let json = try TokenizerFile.readJSON(file, limit: Limits.tokenizerFileBytes, what: "tokenizer.json")
        let parsed = try TokenizerFile.parse(json, path: file)
        model = parsed.model
        addedVocabulary = AddedVocabulary(parsed.added)
        normalizeNFC = parsed.normalizeNFC
        self.path = file
    }

    /// The id of an added or vocabulary token, written as it is stored (`<|im_end|>`, `Ġthe`).
    public func id(of token: String) -> Int? {
        addedVocabulary.tokens.first(where: { $0.content == token })?.id ?? model.vocab[token]
    }

    /// The stored string of an id (byte-level for vocabulary tokens).
    public func token(of id: Int) -> String? {
        model.tokens.indices.contains(id) ? model.tokens[id] : nil
    }

    /// The ids of `text`; added tokens written in it (`<|im_start|>`) are matched as tokens.
    public func encode(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var ids = [Int]()
        for segment in addedVocabulary.split(scalars) {
            switch segment {
            case let .added(token):
                ids.append(token.id)
            case let .text(range):
                var piece = Array(scalars[range])
                if normalizeNFC {
                    // The standard library's own NFC (what String comparison uses). Foundation's
                    // precomposedStringWithCanonicalMapping is not used: on Linux it turns an old-Hangul
                    // jamo pair (U+1113 U+116F) into U+FFFD.
                    piece = Array(String(decoding: String(String.UnicodeScalarView(piece))._nfcCodeUnits, as: UTF8.self).unicodeScalars)
                }
                for r in Qwen2Split.pieces(piece) {
                    ids += model.encode(Array(String(String.UnicodeScalarView(piece[r])).utf8))
                }
            }
        }
        return ids
    }

    /// The text of `ids`. Throws for an id that is no token, unless `skipUnknown` (then it is left out, as
    /// tokenizers does: a model's padded vocabulary rows have no token).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false, skipUnknown: Bool = false) throws -> String {
        let special = Set(addedVocabulary.tokens.filter(\.special).map(\.id))
        let added = Set(addedVocabulary.tokens.map(\.id))
        var out = ""
        var bytes = [UInt8]()
        func flush() {
            out += String(decoding: bytes, as: UTF8.self)
            bytes.removeAll()
        }
        for id in ids {
            guard let token = token(of: id) else {
                if skipUnknown { continue }
                throw TokenizerError(.input, "token id \(id) is not in the vocabulary (0..<\(idCount))", file: path)
            }
            if added.contains(id) {
                // Like tokenizers: the byte-level text before an added token is decoded on its own, the token kept as written.
                if skipSpecialTokens, special.contains(id) { continue }
                flush()
                out += token
            } else {
                bytes += ByteLevel.bytes(of: token) ?? Array(token.utf8)
            }
        }
        flush()
        return out
    }
}
