/// One user turn in the Qwen3-VL chat format (what its chat template writes for a system message, one user
/// message and the generation prompt):
///
///     <|im_start|>system\n{system}<|im_end|>\n            (only with a system message)
///     <|im_start|>user\n{items}<|im_end|>\n<|im_start|>assistant\n
///
/// where an image item is `<|vision_start|>` + `<|image_pad|>` × (merged patches) + `<|vision_end|>`: the
/// template's single pad already expanded the way Qwen3VLProcessor expands it (t·h·w / merge²), so the
/// text encodes straight to the model's input ids.
public struct ChatPrompt: Sendable {
    /// One item of the user message, in order.
    public enum Item: Sendable, Equatable {
        case text(String)
        /// An image with this many merged-patch tokens (`ChatPrompt.imageTokens`).
        case image(tokens: Int)
    }

    public var system: String?
    public var items: [Item]

    public init(system: String? = nil, items: [Item]) {
        self.system = system
        self.items = items
    }

    /// The merged-patch count of one image grid (t, h, w in patches): t·h·w / merge².
    public static func imageTokens(gridTHW g: [Int], mergeSize: Int) -> Int {
        g.reduce(1, *) / (mergeSize * mergeSize)
    }

    /// The prompt text; encoding it matches its added tokens (`Tokenizer.encode`).
    public func render() -> String {
        var s = ""
        if let system { s += "<|im_start|>system\n\(system)<|im_end|>\n" }
        s += "<|im_start|>user\n"
        for item in items {
            switch item {
            case let .text(t): s += t
            case let .image(n): s += "<|vision_start|>" + String(repeating: "<|image_pad|>", count: n) + "<|vision_end|>"
            }
        }
        return s + "<|im_end|>\n<|im_start|>assistant\n"
    }

    /// Checks that a tokenizer can write this format: it has the chat and vision tokens, and its config's
    /// chat template (when it has one) is ChatML.
    public static func checkSupported(by tokenizer: Tokenizer, config: TokenizerConfig, images: Bool) throws {
        let needed = ["<|im_start|>", "<|im_end|>"] + (images ? ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>"] : [])
        for t in needed where !tokenizer.addedTokens.contains(where: { $0.content == t }) {
            throw TokenizerError(.config, "the tokenizer has no \(t) token, so the Qwen3-VL chat format cannot be written", file: tokenizer.path,
                                 hint: "pass --raw to feed the prompt as it is")
        }
        if let template = config.chatTemplate, !template.contains("<|im_start|>") {
            throw TokenizerError(.config, "tokenizer_config.json's chat template is not the Qwen (ChatML) format", key: "chat_template",
                                 hint: "pass --raw to feed the prompt as it is")
        }
    }
}
