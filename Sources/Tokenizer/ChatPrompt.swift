import Foundation

/// One user turn in the Qwen3-VL chat format (what its chat template writes for a system message, one user
/// message and the generation prompt):
///
///     <|im_start|>system\n{system}<|im_end|>\n            (only with a system message)
///     <|im_start|>user\n{items}<|im_end|>\n<|im_start|>assistant\n
///
/// where an image item is `<|vision_start|>` + `<|image_pad|>` × (merged patches) + `<|vision_end|>`: the
/// template's single pad already expanded the way Qwen3VLProcessor expands it (t·h·w / merge²), so the
/// text encodes straight to the model's input ids. A video item is the template's
/// `<|vision_start|><|video_pad|><|vision_end|>` with its pad replaced as Qwen3VLProcessor replaces it: per
/// temporal patch `<{t:.1f} seconds>` + `<|vision_start|>` + `<|video_pad|>` × (h·w / merge²) +
/// `<|vision_end|>` (so the outer `<|vision_start|>`/`<|vision_end|>` of the template stay around them).
public struct ChatPrompt: Sendable {
    /// One item of the user message, in order.
    public enum Item: Sendable, Equatable {
        case text(String)
        /// An image with this many merged-patch tokens (`ChatPrompt.imageTokens`).
        case image(tokens: Int)
        /// A video: the time in seconds of each temporal patch and the tokens of one temporal patch.
        case video(seconds: [Double], tokensPerFrame: Int)
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

    /// A temporal patch's time as Qwen3VLProcessor writes it, `<{t:.1f} seconds>` (printf's %.1f rounds the
    /// binary value correctly, as Python's format does).
    public static func timestamp(_ seconds: Double) -> String {
        "<" + String(format: "%.1f", seconds) + " seconds>"
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
            case let .video(seconds, n):
                s += "<|vision_start|>"
                for t in seconds {
                    s += Self.timestamp(t) + "<|vision_start|>" + String(repeating: "<|video_pad|>", count: n) + "<|vision_end|>"
                }
                s += "<|vision_end|>"
            }
        }
        return s + "<|im_end|>\n<|im_start|>assistant\n"
    }

    /// Checks that a tokenizer can write this format: it has the chat and vision tokens, and its config's
    /// chat template (when it has one) is ChatML.
    public static func checkSupported(by tokenizer: Tokenizer, config: TokenizerConfig, images: Bool, videos: Bool = false) throws {
        let needed = ["<|im_start|>", "<|im_end|>"] + (images || videos ? ["<|vision_start|>", "<|vision_end|>"] : [])
            + (images ? ["<|image_pad|>"] : []) + (videos ? ["<|video_pad|>"] : [])
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
