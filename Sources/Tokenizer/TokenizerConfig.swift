import TensorCore

/// The fields of tokenizer_config.json this project uses.
public struct TokenizerConfig {
    /// The end-of-sequence token (`<|im_end|>` for Qwen chat models), which ends generation.
    public var eosToken: String?
    /// The padding token, when there is one.
    public var padToken: String?
    /// The Jinja chat template, when the file has one. It is not executed: `ChatPrompt` writes the
    /// Qwen3-VL chat format itself, and refuses a template that is not ChatML (`<|im_start|>`).
    public var chatTemplate: String?

    /// Reads `tokenizer_config.json` from a folder (or the file itself). A missing file gives an empty
    /// config (tokenizer.json alone is enough to encode and decode).
    public init(path: String) throws {
        let file = path.hasSuffix(".json") ? path : FileSystem.join(path, "tokenizer_config.json")
        guard FileSystem.isFile(file) else { return }
        let json = try TokenizerFile.readJSON(file, limit: Limits.tokenizerConfigBytes, what: "tokenizer_config.json")
        guard json.objectMembers != nil else { throw TokenizerError(.config, "tokenizer_config.json is not a JSON object", file: file) }
        func token(_ key: String) throws -> String? {
            guard let v = json[key], !v.isNull else { return nil }
            // A plain string, or an AddedToken object {"content": …} (older transformers).
            guard let s = v.stringValue ?? v["content"]?.stringValue else {
                throw TokenizerError(.config, "\(key) is neither a string nor a token object", file: file, key: key)
            }
            return s
        }
        eosToken = try token("eos_token")
        padToken = try token("pad_token")
        if let t = json["chat_template"], !t.isNull {
            // A string, or a list of named templates ({"name": "default", "template": …}).
            chatTemplate = t.stringValue ?? t.arrayValue?.first(where: { $0["name"]?.stringValue == "default" })?["template"]?.stringValue
        }
    }

    public init(eosToken: String? = nil, padToken: String? = nil, chatTemplate: String? = nil) {
        self.eosToken = eosToken
        self.padToken = padToken
        self.chatTemplate = chatTemplate
    }
}
