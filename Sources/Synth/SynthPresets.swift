import TensorCore

/// Real Qwen3-VL model configurations that `ckpt-bridge synth` can reproduce with fewer text layers.
///
/// Each preset is the model's Hub `config.json` in the transformers 4.57 form (`rope_theta` + `rope_scaling`,
/// `num_experts`), built in code; only `num_hidden_layers` (and `dtype`) change. The weight names and shapes
/// are NOT listed here: they come from the mapping tables (see `SyntheticCheckpoint.plan`).
public enum SynthPreset: String, CaseIterable, Sendable {
    /// Qwen/Qwen3-VL-30B-A3B-Instruct: 48 MoE layers (128 experts, top-8), hidden 2048, 27-block vision tower.
    case qwen3VL30BA3B = "qwen3-vl-30b-a3b"
    /// Qwen/Qwen3-VL-8B-Instruct: 36 dense layers, hidden 4096, 27-block vision tower.
    case qwen3VL8B = "qwen3-vl-8b"
    /// Qwen/Qwen3-VL-235B-A22B-Instruct: 94 MoE layers (128 experts, top-8, expert width 1536), hidden 4096,
    /// 64 query heads and 4 KV heads, 27-block vision tower (~4.9 GB per text layer in bf16).
    case qwen3VL235BA22B = "qwen3-vl-235b-a22b"

    /// Whether the text decoder is the MoE one (`Qwen3VLMoe…`).
    public var isMoE: Bool { self != .qwen3VL8B }

    /// The `architectures` entry of the config (selects the mapping table).
    public var architecture: String {
        switch self {
        case .qwen3VL30BA3B, .qwen3VL235BA22B: return "Qwen3VLMoeForConditionalGeneration"
        case .qwen3VL8B: return "Qwen3VLForConditionalGeneration"
        }
    }

    /// The number of text layers of the real model.
    public var realLayers: Int {
        switch self {
        case .qwen3VL30BA3B: return 48
        case .qwen3VL8B: return 36
        case .qwen3VL235BA22B: return 94
        }
    }

    /// The Hub repository the preset copies.
    public var hubRepository: String {
        switch self {
        case .qwen3VL30BA3B: return "Qwen/Qwen3-VL-30B-A3B-Instruct"
        case .qwen3VL8B: return "Qwen/Qwen3-VL-8B-Instruct"
        case .qwen3VL235BA22B: return "Qwen/Qwen3-VL-235B-A22B-Instruct"
        }
    }

    /// The text decoder's widths: hidden, dense FFN, expert FFN (MoE only), query heads, KV heads.
    /// (The MoE models keep `intermediate_size` in their config although every layer is sparse.)
    var textShape: (hidden: Int, ffn: Int, expertFFN: Int, heads: Int, kvHeads: Int) {
        switch self {
        case .qwen3VL30BA3B: return (2048, 6144, 768, 32, 4)
        case .qwen3VL8B: return (4096, 12288, 0, 32, 8)
        case .qwen3VL235BA22B: return (4096, 12288, 1536, 64, 4)
        }
    }

    /// `config.json` of the real model with `num_hidden_layers = layers` and the weights' dtype.
    /// `deepstack_visual_indexes` stay as the real model has them: they index vision blocks, not text layers.
    public func config(layers: Int, dtype: DType = .bf16) -> JSONValue {
        let torchDtype = dtype == .f32 ? "float32" : dtype == .f16 ? "float16" : "bfloat16"
        let moe = isMoE
        let shape = textShape
        let hidden = shape.hidden
        var text: [(String, JSONValue)] = [
            ("attention_bias", .bool(false)),
            ("attention_dropout", .number("0.0")),
            ("bos_token_id", .int(151643)),
        ]
        if moe { text.append(("decoder_sparse_step", .int(1))) }
        text += [
            ("dtype", .string(torchDtype)),
            ("eos_token_id", .int(151645)),
            ("head_dim", .int(128)),
            ("hidden_act", .string("silu")),
            ("hidden_size", .int(hidden)),
            ("initializer_range", .number("0.02")),
            ("intermediate_size", .int(shape.ffn)),
            ("max_position_embeddings", .int(262144)),
        ]
        if moe { text.append(("mlp_only_layers", .array([]))) }
        text.append(("model_type", .string(moe ? "qwen3_vl_moe_text" : "qwen3_vl_text")))
        if moe {
            text += [("moe_intermediate_size", .int(shape.expertFFN)), ("norm_topk_prob", .bool(true))]
        }
        text.append(("num_attention_heads", .int(shape.heads)))
        if moe { text += [("num_experts", .int(128)), ("num_experts_per_tok", .int(8))] }
        text += [
            ("num_hidden_layers", .int(layers)),
            ("num_key_value_heads", .int(shape.kvHeads)),
            ("rms_norm_eps", .number("1e-06")),
            ("rope_scaling", .object([("mrope_interleaved", .bool(true)), ("mrope_section", .ints([24, 20, 20])),
                                      ("rope_type", .string("default"))])),
            ("rope_theta", .int(5_000_000)),
            ("use_cache", .bool(true)),
            ("vocab_size", .int(151936)),
        ]
        let vision: [(String, JSONValue)] = [
            ("deepstack_visual_indexes", .ints([8, 16, 24])),
            ("depth", .int(27)),
            ("hidden_act", .string("gelu_pytorch_tanh")),
            ("hidden_size", .int(1152)),
            ("in_channels", .int(3)),
            ("initializer_range", .number("0.02")),
            ("intermediate_size", .int(4304)),
            ("model_type", .string(moe ? "qwen3_vl_moe" : "qwen3_vl")),
            ("num_heads", .int(16)),
            ("num_position_embeddings", .int(2304)),
            ("out_hidden_size", .int(hidden)),
            ("patch_size", .int(16)),
            ("spatial_merge_size", .int(2)),
            ("temporal_patch_size", .int(2)),
        ]
        return .object([
            ("architectures", .array([.string(architecture)])),
            ("dtype", .string(torchDtype)),
            ("image_token_id", .int(151655)),
            ("model_type", .string(moe ? "qwen3_vl_moe" : "qwen3_vl")),
            ("text_config", .object(text)),
            ("tie_word_embeddings", .bool(false)),
            ("transformers_version", .string("4.57.0.dev0")),
            ("video_token_id", .int(151656)),
            ("vision_config", .object(vision)),
            ("vision_end_token_id", .int(151653)),
            ("vision_start_token_id", .int(151652)),
        ])
    }

    /// `preprocessor_config.json` as the Qwen3-VL Hub repositories ship it: the Qwen2-VL image processor with
    /// 16-pixel patches, 2×2 merge, 2 frames per temporal patch, mean/std 0.5.
    public static let preprocessorConfig: JSONValue = .object([
        ("do_convert_rgb", .bool(true)),
        ("do_normalize", .bool(true)),
        ("do_rescale", .bool(true)),
        ("do_resize", .bool(true)),
        ("image_mean", .array([.number("0.5"), .number("0.5"), .number("0.5")])),
        ("image_processor_type", .string("Qwen2VLImageProcessor")),
        ("image_std", .array([.number("0.5"), .number("0.5"), .number("0.5")])),
        ("merge_size", .int(2)),
        ("patch_size", .int(16)),
        ("processor_class", .string("Qwen3VLProcessor")),
        ("resample", .int(3)),
        ("rescale_factor", .number("0.00392156862745098")),
        ("size", .object([("longest_edge", .int(16_777_216)), ("shortest_edge", .int(65536))])),
        ("temporal_patch_size", .int(2)),
    ])

    /// `generation_config.json` of the Qwen3-VL Instruct models.
    public static let generationConfig: JSONValue = .object([
        ("bos_token_id", .int(151643)),
        ("do_sample", .bool(true)),
        ("eos_token_id", .ints([151645, 151643])),
        ("pad_token_id", .int(151643)),
        ("repetition_penalty", .number("1.0")),
        ("temperature", .number("0.7")),
        ("top_k", .int(20)),
        ("top_p", .number("0.8")),
        ("transformers_version", .string("4.57.0.dev0")),
    ])
}
