import ArgumentParser
import Bridge
import Foundation
import TensorCore
import Tokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode texts to token ids (or decode ids) with a checkpoint's tokenizer.json.",
        discussion: """
        DIR is a folder with tokenizer.json (and tokenizer_config.json), a Hugging Face checkpoint, or a \
        Megatron checkpoint made by import (its hf_config/ holds the tokenizer files). Byte-level BPE with \
        Qwen2's pre-tokenizer (Qwen2, Qwen3, Qwen3-VL), equal to Hugging Face tokenizers; added tokens \
        written in the text (<|im_start|>) are matched as tokens. --chat writes each text as one user turn \
        of the Qwen3-VL chat format first.

        Examples:
          ckpt-bridge tokenize ./Qwen3-VL-8B-Instruct "Hello, world" "你好"
          ckpt-bridge tokenize ./Qwen3-VL-8B-Instruct --chat "Describe the image." --json
          ckpt-bridge tokenize ./megatron --decode 9707 11 1879
        """
    )

    @Argument(help: "The tokenizer folder or checkpoint.", completion: .directory)
    var dir: String
    @Argument(help: "Texts to encode (with --decode: token ids).")
    var items: [String] = []
    @Flag(help: "Decode the ids given instead of encoding texts.")
    var decode = false
    @Flag(help: "With --decode, leave out special tokens (skip_special_tokens).")
    var skipSpecialTokens = false
    @Flag(help: "Write each text as one user turn of the Qwen3-VL chat format before encoding.")
    var chat = false
    @Flag(help: "Print JSON.")
    var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if items.isEmpty { throw ValidationError(decode ? "give the token ids to decode" : "give at least one text to encode") }
        if decode && chat { throw ValidationError("--chat is for encoding") }
        if skipSpecialTokens && !decode { throw ValidationError("--skip-special-tokens goes with --decode") }
        if decode, let bad = items.first(where: { Int($0) == nil }) { throw ValidationError("'\(bad)' is not a token id") }
    }

    func run() throws {
        try runReportingErrors(verbose: global.verbose) {
            let folder = try Self.tokenizerFolder(dir)
            let tok = try Tokenizer(path: folder)
            if decode {
                let ids = items.compactMap { Int($0) }
                let text = try tok.decode(ids, skipSpecialTokens: skipSpecialTokens)
                print(json ? JSONWriter.write(.object([("ids", JSONValue.ints(ids)), ("text", .string(text))])) : text)
                return
            }
            let config = try TokenizerConfig(path: folder)
            if chat { try ChatPrompt.checkSupported(by: tok, config: config, images: false) }
            var results = [JSONValue]()
            for item in items {
                let text = chat ? ChatPrompt(items: [.text(item)]).render() : item
                let ids = tok.encode(text)
                if json {
                    results.append(.object([("text", .string(text)), ("ids", JSONValue.ints(ids)),
                                            ("tokens", .array(ids.map { .string(tok.token(of: $0) ?? "") }))]))
                } else {
                    print(ids.map(String.init).joined(separator: " "))
                }
            }
            if json { print(JSONWriter.write(.object([("tokenizer", .string(tok.path)), ("results", .array(results))]))) }
        }
    }

    /// The folder holding tokenizer.json: DIR itself, or a Megatron checkpoint's hf_config/.
    static func tokenizerFolder(_ dir: String) throws -> String {
        if dir.hasSuffix(".json") || FileSystem.isFile(FileSystem.join(dir, "tokenizer.json")) { return dir }
        if let format = try? CheckpointFormat.detect(dir), format == .torchDist || format == .legacy || format == .fsdpDTensor {
            let source = try MegatronSource.open(dir)
            return FileSystem.join(source.iterationDirectory, "hf_config")
        }
        return dir   // Tokenizer(path:) then names the missing tokenizer.json
    }
}
