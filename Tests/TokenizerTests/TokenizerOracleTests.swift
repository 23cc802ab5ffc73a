import TensorCore
import TestSupport
import Tokenizer
import XCTest

/// Encode and decode against Hugging Face `tokenizers` itself: Fixtures/tokenizer/cases.json holds, for a
/// BPE that `tokenizers` trained with Qwen2's pre-tokenizer and Qwen3-VL's added tokens, 2,500 seeded
/// strings (CJK, emoji, digits, whitespace runs, line breaks, NFC cases, added tokens inline) with the ids
/// `tokenizers` gives them, and 600 random id lists with its decodes
/// (scripts/oracle/make_tokenizer_fixture.py).
final class TokenizerOracleTests: XCTestCase {
    static let folder = FileSystem.join(Fixtures.directory, "tokenizer")

    func loadCases() throws -> JSONValue {
        try JSONParser.parse(try readWholeFile(FileSystem.join(Self.folder, "cases.json")))
    }

    func testEncodeEqualsTokenizers() throws {
        let tok = try Tokenizer(path: Self.folder)
        let cases = try XCTUnwrap(try loadCases()["encode"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 2000)
        var failures = 0
        for c in cases {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let expected = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.intValue)
            let got = tok.encode(text)
            if got != expected {
                failures += 1
                if failures <= 5 {
                    XCTFail("encode(\(JSONWriter.quote(text))) = \(got), tokenizers gives \(expected)")
                }
            }
            // Round trip: decoding the library's ids gives back the normalized text.
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) strings encode differently")
    }

    func testDecodeEqualsTokenizers() throws {
        let tok = try Tokenizer(path: Self.folder)
        let cases = try XCTUnwrap(try loadCases()["decode"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 500)
        var failures = 0
        for c in cases {
            let ids = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.intValue)
            let plain = try tok.decode(ids), skipped = try tok.decode(ids, skipSpecialTokens: true)
            if plain != c["text"]?.stringValue || skipped != c["skip_special"]?.stringValue {
                failures += 1
                if failures <= 5 {
                    XCTFail("decode(\(ids)) = \(JSONWriter.quote(plain)) / \(JSONWriter.quote(skipped)), tokenizers gives \(c["text"]!) / \(c["skip_special"]!)")
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) id lists decode differently")
    }

    func testIdsOutsideTheVocabularyAreRefused() throws {
        let tok = try Tokenizer(path: Self.folder)
        XCTAssertThrowsError(try tok.decode([5, tok.idCount])) { e in
            XCTAssertEqual((e as? TokenizerError)?.code, .input)
        }
        XCTAssertThrowsError(try tok.decode([-1]))
    }
}

/// The chat format against transformers: cases.json's chat prompts were rendered by Qwen3VLProcessor's
/// apply_chat_template and expanded and encoded by the processor itself for images of several sizes.
final class ChatPromptOracleTests: XCTestCase {
    func testChatPromptsEqualTheProcessor() throws {
        let folder = TokenizerOracleTests.folder
        let tok = try Tokenizer(path: folder)
        let config = try TokenizerConfig(path: folder)
        XCTAssertEqual(config.eosToken, "<|im_end|>")
        try ChatPrompt.checkSupported(by: tok, config: config, images: true)
        let cases = try XCTUnwrap(try JSONParser.parse(try readWholeFile(FileSystem.join(folder, "cases.json")))["chat"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        for c in cases {
            let grids = try XCTUnwrap(c["image_grid_thw"]?.arrayValue).map { $0.arrayValue!.compactMap(\.intValue) }
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let items = grids.map { ChatPrompt.Item.image(tokens: ChatPrompt.imageTokens(gridTHW: $0, mergeSize: 2)) } + (text.isEmpty ? [] : [.text(text)])
            let prompt = ChatPrompt(system: c["system"]?.stringValue, items: items)
            let expected = try XCTUnwrap(c["ids"]?.arrayValue).compactMap(\.intValue)
            XCTAssertEqual(tok.encode(prompt.render()), expected, "chat prompt \(text)")
            XCTAssertEqual(try tok.decode(expected), prompt.render())
        }
    }
}
