import TensorCore

/// The validated description of a Qwen3 / Qwen3-MoE / Qwen3-VL / Qwen3-VL-MoE model, read from its
/// config.json: the one validation every command runs (`plan`, `import`, `export`, `forward`, `verify`).
///
/// Each integer is range-checked against `Limits` before any arithmetic, and the fields are checked
/// against each other (heads divisible by key/value heads, top-k within the experts, `mrope_section`
/// summing to head_dim / 2, deepstack indexes inside the vision tower, the vision output width equal to
/// the text width, a known `model_type`). Defaults are those of Megatron-Bridge's providers and the
/// transformers config classes they read (`Qwen3VLTransformerConfig`: `mrope_section` [24, 20, 20],
/// `deepstack_visual_indexes` [8, 16, 24], `num_position_embeddings` 2304, patch 16, temporal patch 2,
/// merge 2, 3 channels). The converter (Bridge) turns it into Megatron providers; the reference forward
/// pass reads its own model from it. Both weight readers stay independent: only the config is shared.
public struct ModelSpec: Equatable, Sendable {
    /// The top-level `model_type`, when present (one of `knownModelTypes`).
    public var modelType: String?
    public var text: TextSpec
    /// Nil when the config has no vision section.
    public var vision: VisionSpec?
    /// Top-level `tie_word_embeddings` (Qwen3-VL ignores the text config's copy, as transformers does).
    public var tieWordEmbeddings: Bool
    public var imageTokenId: Int?
    public var videoTokenId: Int?
    public var visionStartTokenId: Int?
    public var visionEndTokenId: Int?
    /// The dtype the config declares (`torch_dtype` / `dtype`), e.g. "bfloat16".
    public var dtype: String?

    /// The `model_type`s of the families the mapping tables define.
    public static let knownModelTypes = ["qwen3", "qwen3_moe", "qwen3_vl", "qwen3_vl_moe"]

    /// - Parameters:
    ///   - textSection: the object holding the text model's fields (`text_config`, or "" for the top level
    ///     of a text-only config).
    ///   - visionSection: the object holding the vision tower's fields, when the family has one.
    ///   - file: named in errors.
    public init(json: JSONValue, textSection: String = "text_config", visionSection: String? = "vision_config",
                file: String? = nil) throws {
        do {
            guard json.objectMembers != nil else { throw ModelSpecError(.config, "config.json is not a JSON object") }
            let top = ConfigFields(json, path: "")
            modelType = try top.optionalString("model_type")
            if let t = modelType, !Self.knownModelTypes.contains(t) {
                throw top.error("model_type", "is '\(t)', not a supported family",
                                hint: "supported: \(Self.knownModelTypes.joined(separator: ", "))")
            }
            guard let t = ConfigFields(json, section: textSection) else {
                throw ModelSpecError(.config, "config.json has no \(textSection) object", key: textSection,
                                     hint: "the config.json does not describe a model of this family")
            }
            let visionFields = visionSection.flatMap { ConfigFields(json, section: $0) }
            text = try TextSpec(t, multimodal: visionFields != nil)
            vision = try visionFields.map { try VisionSpec($0) }
            tieWordEmbeddings = try top.optionalBool("tie_word_embeddings") ?? false
            let id = 0...Limits.tokenId
            if text.bosTokenId == nil { text.bosTokenId = try top.optionalInt("bos_token_id", in: id) }
            if text.eosTokenId == nil { text.eosTokenId = try top.optionalInt("eos_token_id", in: id) }
            imageTokenId = try top.optionalInt("image_token_id", in: id)
            videoTokenId = try top.optionalInt("video_token_id", in: id)
            visionStartTokenId = try top.optionalInt("vision_start_token_id", in: id)
            visionEndTokenId = try top.optionalInt("vision_end_token_id", in: id)
            dtype = try top.optionalString("torch_dtype") ?? top.optionalString("dtype") ?? t.optionalString("dtype")
            if let vision, vision.outHiddenSize != text.hiddenSize {
                throw ModelSpecError(.config, "vision out_hidden_size \(vision.outHiddenSize) differs from text hidden_size \(text.hiddenSize)",
                                     key: (visionSection ?? "") + ".out_hidden_size",
                                     hint: "the merger's output feeds the text model, so the two widths must be equal")
            }
        } catch let e as ModelSpecError {
            throw e.with(file: file)
        }
    }

    /// Reads and validates a config.json file (at most `Limits.configFileBytes`).
    public init(configPath: String, textSection: String = "text_config", visionSection: String? = "vision_config") throws {
        let json = try Self.readJSON(configPath)
        try self.init(json: json, textSection: textSection, visionSection: visionSection, file: configPath)
    }

    /// A config file's JSON, refusing files larger than `Limits.configFileBytes` before reading them.
    public static func readJSON(_ path: String) throws -> JSONValue {
        if let size = FileSystem.fileSize(path), size > Limits.configFileBytes {
            throw ModelSpecError(.config, "config file is \(size) bytes, more than the limit of \(Limits.configFileBytes)",
                                 file: path, hint: "a config.json is a few KB; this is not one")
        }
        let bytes: [UInt8]
        do { bytes = try readWholeFile(path) } catch {
            throw ModelSpecError(.config, "cannot read the config file", file: path, underlying: error)
        }
        do { return try JSONParser.parse(bytes) } catch let e as JSONParseError {
            throw ModelSpecError(.config, "config.json is not valid JSON: \(e.message)", file: path, byteOffset: e.offset)
        }
    }
}
