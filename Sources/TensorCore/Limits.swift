/// The caps on every size this project reads from a file, in one place (documented in Docs/limits.md).
///
/// Each is checked before anything is allocated or computed from the value, so a hostile or corrupt
/// input fails in milliseconds with a typed error instead of exhausting memory or trapping on overflow.
/// The caps sit well above every released Qwen3 / Qwen3-VL model (the largest: 94 layers, 128 experts,
/// hidden 8192, vocab 151,936) and low enough that the products the planner forms (layers × experts ×
/// widths) stay far inside 64-bit arithmetic and its bookkeeping stays within a few hundred MB.
public enum Limits {
    // MARK: config.json and run_config.yaml

    /// Largest config.json or run_config.yaml read (real ones are a few KB).
    public static let configFileBytes = 16 << 20
    /// Text decoder layers (`num_hidden_layers`).
    public static let layers = 1024
    /// Routed experts per MoE layer (`num_experts` / `num_local_experts`).
    public static let experts = 1024
    /// MoE layers × experts: the number of per-expert parameter sets a plan enumerates.
    public static let expertSlots = 1 << 16
    /// Attention heads and key/value heads, text and vision (`num_attention_heads`, `num_heads`).
    public static let heads = 1024
    /// Width of one attention head (`head_dim`, and the vision hidden / heads).
    public static let headDim = 4096
    /// Model widths (`hidden_size`, vision `hidden_size` and `out_hidden_size`).
    public static let hiddenSize = 1 << 17
    /// MLP widths (`intermediate_size`, `moe_intermediate_size`).
    public static let ffnSize = 1 << 20
    /// Vocabulary rows (`vocab_size`).
    public static let vocabSize = 1 << 24
    /// Context length (`max_position_embeddings`); only recorded, never allocated.
    public static let contextLength = 1 << 26
    /// Vision blocks (`vision_config.depth`).
    public static let visionDepth = 1024
    /// Pixels per patch side (`patch_size`).
    public static let patchSize = 1024
    /// Frames per patch, channels, and the spatial merge factor (`temporal_patch_size`, `in_channels`,
    /// `spatial_merge_size`).
    public static let smallFactor = 64
    /// Learned vision position embeddings (`num_position_embeddings`, a square).
    public static let visionPositions = 1 << 20
    /// Token ids (`image_token_id`, `bos_token_id`, …).
    public static let tokenId = Int(Int32.max)

    /// Patches along time, height or width of one image (`image_grid_thw` in a forward inputs file).
    public static let imageGridSide = 1 << 16
    /// Pixels of one decoded image file (`--image`): 2²⁷ (PIL refuses above 2·89,478,485); the RGBA buffer
    /// is then at most 512 MiB.
    public static let imagePixels = 1 << 27
    /// Frames of one video (transformers' default max_frames is 768).
    public static let videoFrames = 1 << 16
    /// Bytes of one image file.
    public static let imageFileBytes = 1 << 30

    // MARK: YAML

    /// Nodes a YAML document may expand to once its aliases are resolved (a billion-laughs document
    /// is refused while counting, before anything is expanded).
    public static let yamlExpandedNodes = 1_000_000

    // MARK: binary formats

    /// Length of a safetensors JSON header (the Rust crate's limit).
    public static let safeTensorsHeaderBytes = 100_000_000
    /// Nesting depth of a JSON document.
    public static let jsonDepth = 128
    /// Files listed in an `integrity.json` manifest, and the manifest's size in bytes.
    public static let integrityFiles = 1 << 20
    public static let integrityManifestBytes = 256 << 20
    /// Pickle (`.metadata`, `common.pt`, legacy rank files): nesting depth of containers and MARKs,
    /// memo entries, decoded values (every repetition of a memo-shared value counted), stack entries,
    /// and input bytes. The reader names the limit and the byte offset when one is reached.
    public static let pickleDepth = 1000
    public static let pickleMemoEntries = 10_000_000
    public static let pickleItems = 50_000_000
    public static let pickleStackItems = 10_000_000
    public static let pickleBytes = 4 << 30
}
