import Bridge
import Forward
import TensorCore
import Tokenizer

/// A text prompt as a user gives it, to be tokenized with the checkpoint's tokenizer.
public struct PromptRequest {
    /// The user's text.
    public var text: String
    /// Feed `text` as it is (its added tokens still matched), without the chat format.
    public var raw: Bool
    /// A system message for the chat format.
    public var system: String?
    /// Images already turned into patches by an image processor, in prompt order, placed before the text
    /// (the Qwen3-VL examples' order). This is where `--image` plugs in; none for a text prompt.
    public var images: [PromptImage]
    /// Videos already processed by the video processor, placed after the images and before the text.
    public var videos: [VideoProcessor.Output]

    public init(text: String, raw: Bool = false, system: String? = nil, images: [PromptImage] = [],
                videos: [VideoProcessor.Output] = []) {
        self.text = text
        self.raw = raw
        self.system = system
        self.images = images
        self.videos = videos
    }
}

/// One image's `pixel_values` rows and its (t, h, w) grid in patches.
public struct PromptImage {
    public var pixelValues: [Float]
    public var gridTHW: [Int]

    public init(pixelValues: [Float], gridTHW: [Int]) {
        self.pixelValues = pixelValues
        self.gridTHW = gridTHW
    }
}

/// A prompt tokenized for a model: the text that was encoded, the forward pass's inputs, and the tokens
/// that end generation.
public struct PreparedPrompt {
    public var tokenizer: Tokenizer
    public var tokenizerConfig: TokenizerConfig
    /// The text encoded (the chat format written out, image pads expanded).
    public var text: String
    public var inputs: ForwardInputs
    /// tokenizer_config.json's eos_token and generation_config.json's eos_token_id(s), when present.
    public var stopTokens: Set<Int>

    /// Tokenizes `request` with the tokenizer in `tokenizerDirectory` for a model with `config`.
    public init(_ request: PromptRequest, tokenizerDirectory: String, config: ModelConfig) throws {
        tokenizer = try Tokenizer(path: tokenizerDirectory)
        tokenizerConfig = try TokenizerConfig(path: tokenizerDirectory)
        var items = [ChatPrompt.Item]()
        if !request.images.isEmpty || !request.videos.isEmpty {
            guard !request.raw else {
                throw TokenizerError(.input, "images and videos need the chat format, which writes their placeholder tokens", hint: "drop --raw")
            }
            guard let vision = config.vision else {
                throw TokenizerError(.input, "the model has no vision tower (config.json has no vision_config)")
            }
            for (token, id, used) in [("<|image_pad|>", config.imageTokenId, !request.images.isEmpty),
                                      ("<|video_pad|>", config.videoTokenId, !request.videos.isEmpty)] where used {
                guard tokenizer.id(of: token) == id else {
                    throw TokenizerError(.config, "the tokenizer's \(token) is \(tokenizer.id(of: token).map(String.init) ?? "missing") but config.json has \(id) for it",
                                         file: tokenizer.path, hint: "use the tokenizer that belongs to this checkpoint")
                }
            }
            let m = vision.spec.spatialMergeSize
            items = request.images.map { .image(tokens: ChatPrompt.imageTokens(gridTHW: $0.gridTHW, mergeSize: m)) }
            items += request.videos.map { .video(seconds: $0.timestamps, tokensPerFrame: $0.gridTHW[1] * $0.gridTHW[2] / (m * m)) }
        }
        if request.raw {
            text = request.text
        } else {
            try ChatPrompt.checkSupported(by: tokenizer, config: tokenizerConfig, images: !request.images.isEmpty, videos: !request.videos.isEmpty)
            if !request.text.isEmpty { items.append(.text(request.text)) }
            text = ChatPrompt(system: request.system, items: items).render()
        }
        let ids = tokenizer.encode(text)
        guard !ids.isEmpty else { throw TokenizerError(.input, "the prompt is empty") }
        inputs = ForwardInputs(inputIds: ids,
                               pixelValues: request.images.isEmpty ? nil : request.images.flatMap(\.pixelValues),
                               imageGridTHW: request.images.map(\.gridTHW),
                               pixelValuesVideos: request.videos.isEmpty ? nil : request.videos.flatMap(\.pixelValues),
                               videoGridTHW: request.videos.map(\.gridTHW))
        stopTokens = []
        if let eos = tokenizerConfig.eosToken, let id = tokenizer.id(of: eos) { stopTokens.insert(id) }
        stopTokens.formUnion(try Self.generationEOS(tokenizerDirectory))
    }

    /// generation_config.json's eos_token_id (an integer or a list), when the file exists.
    static func generationEOS(_ directory: String) throws -> [Int] {
        let path = FileSystem.join(directory, "generation_config.json")
        guard FileSystem.isFile(path) else { return [] }
        if let size = FileSystem.fileSize(path), size > Limits.configFileBytes {
            throw TokenizerError(.config, "generation_config.json is \(size) bytes, more than the limit of \(Limits.configFileBytes)", file: path)
        }
        let json: JSONValue
        do { json = try JSONParser.parse(try readWholeFile(path)) } catch let e as JSONParseError {
            throw TokenizerError(.config, "generation_config.json is not valid JSON: \(e.message)", file: path, byteOffset: e.offset)
        }
        guard let v = json["eos_token_id"], !v.isNull else { return [] }
        guard let ids = v.intValue.map({ [$0] }) ?? v.arrayValue?.compactMap(\.intValue),
              ids.allSatisfy({ (0...Limits.tokenId).contains($0) }) else {
            throw TokenizerError(.config, "eos_token_id is not a token id or a list of them", file: path, key: "eos_token_id")
        }
        return ids
    }
}

extension PreparedPrompt {
    /// Generated ids as text, as transformers' `decode(skip_special_tokens=True)` gives it; ids of a model's
    /// padded vocabulary rows, which no token has, are left out.
    public func text(of ids: [Int]) throws -> String {
        try tokenizer.decode(ids, skipSpecialTokens: true, skipUnknown: true)
    }

    /// Tokenizes `request` for `model`, with the image files `images` (processed with `preprocessorConfig`
    /// or the model's own preprocessor_config.json) and then the video `video` placed before its text, using
    /// the tokenizer in `tokenizerDirectory` or else the checkpoint's own (the HF folder, or the hf_config/
    /// that import writes into a Megatron checkpoint).
    public init(_ request: PromptRequest, for model: ForwardModel, images: [String] = [], preprocessorConfig: String? = nil,
                video: VideoRequest? = nil, tokenizerDirectory: String? = nil) throws {
        guard let directory = tokenizerDirectory ?? model.companionDirectory else {
            throw BridgeError(.request, "the \(model.kind) checkpoint carries no tokenizer (it has no embedded hf_config/)",
                              hint: "pass --tokenizer DIR (the original Hugging Face folder)")
        }
        var request = request
        request.images += try ImageFileInputs.process(images, preprocessorConfig: preprocessorConfig,
                                                      companionDirectory: model.companionDirectory, config: model.config)
            .map { PromptImage(pixelValues: $0.pixelValues, gridTHW: $0.gridTHW) }
        if let video {
            request.videos.append(try VideoFileInputs.process(video.folder, fps: video.fps, preprocessorConfig: video.preprocessorConfig,
                                                              companionDirectory: model.companionDirectory, config: model.config))
        }
        try self.init(request, tokenizerDirectory: directory, config: model.config)
    }
}

/// A video as `--video DIR --fps F` give it: a folder of frames and their rate, with an optional
/// processor config (default: the model's own).
public struct VideoRequest: Sendable {
    public var folder: String
    public var fps: Double
    public var preprocessorConfig: String?

    public init(folder: String, fps: Double, preprocessorConfig: String? = nil) {
        self.folder = folder
        self.fps = fps
        self.preprocessorConfig = preprocessorConfig
    }
}
