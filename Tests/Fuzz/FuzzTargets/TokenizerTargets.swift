import TensorCore
import Tokenizer

extension FuzzTargets {
    /// The bytes are a `tokenizer.json`: read and checked, then made to encode and decode a fixed text, so
    /// a vocabulary, merge list or added-token table that parses is also one the BPE loop can run on.
    public static let tokenizerFile = FuzzTarget(
        name: "tokenizer-file", summary: "Tokenizer(path:) (tokenizer.json: BPE vocab, merges, added tokens), then encode/decode"
    ) { bytes in
        let path = ScratchFolder.shared.write(bytes, as: "tokenizer.json")
        let t = try Tokenizer(path: path)
        let ids = t.encode(TokenizerProbe.text)
        for id in ids {
            FuzzCheck.require(id >= 0 && id < t.idCount, "encode gave id \(id) outside 0..<\(t.idCount)", target: "tokenizer-file")
        }
        _ = try t.decode(ids)
    }

    /// The bytes are text (invalid UTF-8 repaired to U+FFFD, as a prompt read from a file is) encoded with the
    /// fixture Qwen tokenizer. Decoding the ids gives the text back NFC-normalized when it cannot hold an added
    /// token (every Qwen added token starts with `<`; next to one, NFC applies per segment, as in tokenizers),
    /// and encoding what was decoded gives the same ids again in every case.
    public static let tokenizerEncode = FuzzTarget(
        name: "tokenizer-encode", summary: "Tokenizer.encode / decode of any text with the fixture Qwen tokenizer (round trip)"
    ) { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        let t = try TokenizerProbe.fixture()
        let ids = t.encode(text)
        let back = try t.decode(ids)
        let codes = { text.unicodeScalars.prefix(40).map { String($0.value, radix: 16) } }
        if !text.contains("<") {
            FuzzCheck.require(back == String(decoding: text._nfcCodeUnits, as: UTF8.self),
                              "decode(encode(text)) differs from NFC(text) for \(codes())", target: "tokenizer-encode")
        }
        FuzzCheck.require(t.encode(back) == ids, "encode(decode(ids)) differs from ids for \(codes())", target: "tokenizer-encode")
    }
}

enum TokenizerProbe {
    /// Added tokens, ASCII, CJK, combining marks and digits: every branch of the split and the merges.
    static let text = "<|im_start|>user\nHello, wörld! 你好 e\u{301} 12345 \t\n<|im_end|>"

    /// `Fixtures/tokenizer/tokenizer.json` (Qwen3-VL's added tokens over a small BPE), read once.
    static func fixture() throws -> Tokenizer {
        if let t = cache.value { return t }
        let t = try Tokenizer(path: FileSystem.join(FuzzPaths.fixtures, "tokenizer", "tokenizer.json"))
        cache.value = t
        return t
    }

    private final class Cache: @unchecked Sendable { var value: Tokenizer? }
    private static let cache = Cache()
}
