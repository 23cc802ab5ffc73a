import TensorCore

/// The vision tower's fields (`vision_config`), validated.
public struct VisionSpec: Equatable, Sendable {
    public var depth: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHeads: Int
    public var outHiddenSize: Int
    /// Pixels per patch side (default 16).
    public var patchSize: Int
    /// Frames per patch (default 2).
    public var temporalPatchSize: Int
    /// Patches merged per side into one token (default 2).
    public var spatialMergeSize: Int
    /// Image channels (default 3).
    public var inChannels: Int
    /// Learned position embeddings, a square grid (default 2304 = 48²).
    public var numPositionEmbeddings: Int
    /// The blocks whose outputs feed the deepstack mergers, each inside 0 ..< depth (default [8, 16, 24]).
    public var deepstackVisualIndexes: [Int]
    /// `hidden_act` of the blocks' MLP (default gelu_pytorch_tanh).
    public var hiddenAct: String
    /// The vision rotary base (`rope_parameters.rope_theta`, default 1e4).
    public var ropeTheta: Double

    public var headDim: Int { hiddenSize / numHeads }
    /// Side of the square position grid.
    public var gridSide: Int { Int(Double(numPositionEmbeddings).squareRoot().rounded(.down)) }
    /// The merger's input width: m² · Hv.
    public var mergedHiddenSize: Int { spatialMergeSize * spatialMergeSize * hiddenSize }

    init(_ r: ConfigFields) throws {
        depth = try r.int("depth", in: 1...Limits.visionDepth)
        hiddenSize = try r.int("hidden_size", in: 1...Limits.hiddenSize)
        intermediateSize = try r.int("intermediate_size", in: 1...Limits.ffnSize)
        numHeads = try r.int("num_heads", in: 1...Limits.heads)
        outHiddenSize = try r.int("out_hidden_size", in: 1...Limits.hiddenSize)
        patchSize = try r.int("patch_size", in: 1...Limits.patchSize, default: 16)
        temporalPatchSize = try r.int("temporal_patch_size", in: 1...Limits.smallFactor, default: 2)
        spatialMergeSize = try r.int("spatial_merge_size", in: 1...Limits.smallFactor, default: 2)
        inChannels = try r.int("in_channels", in: 1...Limits.smallFactor, default: 3)
        numPositionEmbeddings = try r.int("num_position_embeddings", in: 1...Limits.visionPositions, default: 2304)
        deepstackVisualIndexes = try r.optionalInts("deepstack_visual_indexes", in: Int.min...Int.max, maxCount: depth) ?? [8, 16, 24]
        hiddenAct = try r.optionalString("hidden_act") ?? "gelu_pytorch_tanh"
        let positive = Double.leastNonzeroMagnitude...Double.greatestFiniteMagnitude
        ropeTheta = try r.object("rope_parameters")?.optionalDouble("rope_theta", in: positive) ?? 10_000
        guard hiddenSize % numHeads == 0, (hiddenSize / numHeads) % 4 == 0 else {
            throw r.error("num_heads", "(\(numHeads)) must divide hidden_size \(hiddenSize) into heads of a width divisible by 4",
                          hint: "the vision rotary embedding splits each head between rows and columns")
        }
        guard gridSide * gridSide == numPositionEmbeddings else {
            throw r.error("num_position_embeddings", "(\(numPositionEmbeddings)) is not a square")
        }
        if let bad = deepstackVisualIndexes.first(where: { $0 < 0 || $0 >= depth }) {
            throw r.error("deepstack_visual_indexes", "holds \(bad), outside the \(depth) vision blocks 0…\(depth - 1)")
        }
    }
}
