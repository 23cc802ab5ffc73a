import TensorCore

extension Limits {
    /// Largest tokenizer.json read (Qwen's, with 151,643 tokens and 151,387 merges, is 11 MB).
    public static let tokenizerFileBytes = 64 << 20
    /// Largest tokenizer_config.json read (Qwen's is 7 KB plus a chat template of a few KB).
    public static let tokenizerConfigBytes = 4 << 20
}

/// Reading and checking tokenizer.json. Only what Qwen2 / Qwen3 / Qwen3-VL tokenizers use is accepted
/// (byte-level BPE, NFC or no normalizer, Qwen2's split then ByteLevel, ByteLevel decoder); anything else is
/// refused by name rather than encoded differently from tokenizers.
enum TokenizerFile {
    static func readJSON(_ path: String, limit: Int, what: String) throws -> JSONValue {
        guard FileSystem.isFile(path) else {
            throw TokenizerError(.config, "\(what) not found", file: path,
                                 hint: "copy tokenizer.json and tokenizer_config.json from the model's Hugging Face folder, or pass --tokenizer DIR")
        }
        if let size = FileSystem.fileSize(path), size > limit {
            throw TokenizerError(.config, "\(what) is \(size) bytes, more than the limit of \(limit)", file: path)
        }
        do {
            return try JSONParser.parse(try readWholeFile(path))
        } catch let e as JSONParseError {
            throw TokenizerError(.config, "\(what) is not valid JSON: \(e.message)", file: path, byteOffset: e.offset)
        }
    }

    struct Parsed {
        var model: BPEModel
        var added: [AddedToken]
        var normalizeNFC: Bool
    }

    static func parse(_ json: JSONValue, path: String) throws -> Parsed {
        func fail(_ key: String, _ message: String, hint: String? = nil) -> TokenizerError {
            TokenizerError(.config, message, file: path, key: key,
                           hint: hint ?? "only Qwen2-style byte-level BPE tokenizers (Qwen2, Qwen3, Qwen3-VL) are supported")
        }
        func type(_ v: JSONValue?) -> String? { v?["type"]?.stringValue }
        func isFalse(_ v: JSONValue?) -> Bool { v == nil || v!.isNull || v!.boolValue == false }
        func isEmpty(_ v: JSONValue?) -> Bool { v == nil || v!.isNull || v!.stringValue == "" }

        guard json.objectMembers != nil else { throw fail("", "tokenizer.json is not a JSON object") }
        for key in ["truncation", "padding"] where !(json[key]?.isNull ?? true) {
            throw fail(key, "\(key) is set; encoding a prompt must not cut or pad it", hint: "set \"\(key)\": null")
        }
        // normalizer: NFC (Qwen) or none.
        let normalizer = json["normalizer"]
        let nfc: Bool
        if normalizer == nil || normalizer!.isNull { nfc = false } else if type(normalizer) == "NFC" { nfc = true } else {
            throw fail("normalizer", "normalizer \(type(normalizer) ?? "?") is not supported (only NFC or none)")
        }
        // pre_tokenizer: Sequence[Split(Qwen2 regex, Isolated), ByteLevel(no prefix space, no regex)].
        let pre = json["pre_tokenizer"]?["pretokenizers"]?.arrayValue ?? []
        guard type(json["pre_tokenizer"]) == "Sequence", pre.count == 2, type(pre[0]) == "Split",
              pre[0]["pattern"]?["Regex"]?.stringValue == Qwen2Split.pattern,
              pre[0]["behavior"]?.stringValue == "Isolated", isFalse(pre[0]["invert"]),
              type(pre[1]) == "ByteLevel", isFalse(pre[1]["add_prefix_space"]), isFalse(pre[1]["use_regex"]) else {
            throw fail("pre_tokenizer", "the pre-tokenizer is not Qwen2's (Split with its regex, Isolated, then ByteLevel without prefix space or regex)")
        }
        guard type(json["decoder"]) == "ByteLevel" else {
            throw fail("decoder", "decoder \(type(json["decoder"]) ?? "null") is not supported (only ByteLevel)")
        }
        if let post = json["post_processor"], !post.isNull, type(post) != "ByteLevel" {
            throw fail("post_processor", "post-processor \(type(post) ?? "?") would add tokens; only ByteLevel or none is supported")
        }
        // model: byte-level BPE, no unknown token, no dropout, no prefixes or suffixes, no byte fallback.
        guard let m = json["model"], type(m) == "BPE" else { throw fail("model", "the model is not BPE") }
        guard m["dropout"]?.isNull ?? true, m["unk_token"]?.isNull ?? true, isEmpty(m["continuing_subword_prefix"]),
              isEmpty(m["end_of_word_suffix"]), isFalse(m["fuse_unk"]), isFalse(m["byte_fallback"]) else {
            throw fail("model", "BPE with dropout, an unknown token, subword prefixes/suffixes or byte fallback is not supported")
        }
        guard let vocabMembers = m["vocab"]?.objectMembers, !vocabMembers.isEmpty, vocabMembers.count <= Limits.vocabSize else {
            throw fail("model.vocab", "the vocabulary is missing, empty or larger than \(Limits.vocabSize)")
        }
        var vocab = [String: Int](minimumCapacity: vocabMembers.count)
        var maxId = -1
        for (token, v) in vocabMembers {
            guard let id = v.intValue, (0..<Limits.vocabSize).contains(id) else {
                throw fail("model.vocab", "token \(JSONWriter.quote(token)) has id \(v), not an integer in 0..<\(Limits.vocabSize)")
            }
            guard vocab.updateValue(id, forKey: token) == nil else { throw fail("model.vocab", "token \(JSONWriter.quote(token)) appears twice") }
            maxId = max(maxId, id)
        }
        guard let addedJSON = json["added_tokens"]?.arrayValue ?? (json["added_tokens"] == nil ? [] : nil) else {
            throw fail("added_tokens", "added_tokens is not an array")
        }
        var added = [AddedToken]()
        for (n, a) in addedJSON.enumerated() {
            guard let id = a["id"]?.intValue, (0..<Limits.vocabSize).contains(id), let content = a["content"]?.stringValue, !content.isEmpty else {
                throw fail("added_tokens[\(n)]", "an added token needs an integer id and non-empty content")
            }
            guard isFalse(a["lstrip"]), isFalse(a["rstrip"]), isFalse(a["single_word"]), isFalse(a["normalized"]) else {
                throw fail("added_tokens[\(n)]", "added token \(JSONWriter.quote(content)) uses lstrip, rstrip, single_word or normalized, which are not supported")
            }
            if let other = vocab[content], other != id {
                throw fail("added_tokens[\(n)]", "added token \(JSONWriter.quote(content)) has id \(id) but the vocabulary gives it \(other)")
            }
            added.append(AddedToken(id: id, content: content, special: a["special"]?.boolValue ?? false))
            maxId = max(maxId, id)
        }
        var tokens = [String?](repeating: nil, count: maxId + 1)
        for (token, id) in vocab {
            guard tokens[id] == nil else { throw fail("model.vocab", "id \(id) is given to two tokens") }
            tokens[id] = token
        }
        for a in added {
            if let t = tokens[a.id], t != a.content { throw fail("added_tokens", "id \(a.id) is both \(JSONWriter.quote(t)) and the added token \(JSONWriter.quote(a.content))") }
            tokens[a.id] = a.content
        }
        if Set(added.map(\.content)).count != added.count { throw fail("added_tokens", "an added token appears twice") }
        let byteIds = try ByteLevel.scalarOfByte.enumerated().map { b, s -> Int in
            guard let id = vocab[String(Character(s))] else {
                throw fail("model.vocab", "the vocabulary lacks the byte-level symbol of byte 0x\(String(b, radix: 16)) (\(JSONWriter.quote(String(Character(s)))))",
                           hint: "a byte-level BPE vocabulary holds all 256 byte symbols")
            }
            return id
        }
        // merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers ≥ 0.20).
        guard let mergeList = m["merges"]?.arrayValue else { throw fail("model.merges", "the merges are missing") }
        var merges = [BPEModel.Pair: (rank: Int, id: Int)](minimumCapacity: mergeList.count)
        for (rank, item) in mergeList.enumerated() {
            let parts: [String]
            if let s = item.stringValue {
                parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = item.arrayValue?.compactMap(\.stringValue) ?? []
            }
            guard parts.count == 2, let a = vocab[parts[0]], let b = vocab[parts[1]], let merged = vocab[parts[0] + parts[1]] else {
                throw fail("model.merges[\(rank)]", "merge \(item) is not two vocabulary tokens whose concatenation is a token")
            }
            // tokenizers would keep the last rank of a repeated merge; no real file has one, so it is refused.
            guard merges.updateValue((rank, merged), forKey: BPEModel.Pair(left: a, right: b)) == nil else {
                throw fail("model.merges[\(rank)]", "merge \(item) appears twice")
            }
        }
        let model = BPEModel(vocab: vocab, tokens: tokens, merges: merges, byteIds: byteIds,
                             ignoreMerges: m["ignore_merges"]?.boolValue ?? false)
        return Parsed(model: model, added: added, normalizeNFC: nfc)
    }
}
