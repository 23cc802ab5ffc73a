/// The weights of a Qwen3-VL model in the ONE layout the forward pass computes on, whatever format they
/// were read from. Every matrix is fp32, row-major, PyTorch `[out, in]` (so `y = x · Wᵀ`); every
/// accessor reads from the (mapped) checkpoint on demand, so the caller holds one layer at a time.
///
/// Two independent implementations exist: `HFWeights` (Hugging Face names and semantics) and
/// `MegatronWeights` (Megatron-Core names and runtime semantics). Neither uses the converter's mapping
/// tables, so a mapping bug shows up as a logit difference instead of cancelling out.
public protocol ModelWeights {
    var config: ModelConfig { get }

    /// Embedding rows of the given token ids, [ids.count, H].
    func embeddingRows(_ ids: [Int]) throws -> [Float]
    /// Decoder layer `index` (0-based).
    func textLayer(_ index: Int) throws -> TextLayerWeights
    /// The final RMSNorm weight, [H].
    func finalNorm() throws -> [Float]
    /// Rows `range` of the output projection (lm_head, or the embedding when tied), [range.count, H].
    /// `range` lies inside the true vocabulary; padded rows are never asked for.
    func outputRows(_ range: Range<Int>) throws -> [Float]
    /// The same rows written to `buffer` (room for range.count × H floats), so the logits loop can reuse
    /// one buffer for the whole vocabulary.
    func outputRows(_ range: Range<Int>, into buffer: UnsafeMutablePointer<Float>) throws

    /// Conv3d patch embedding as a matrix [Hv, C·T·P·P] plus bias [Hv].
    func patchEmbed() throws -> LinearWeights
    /// The learned position table, [num_position_embeddings, Hv].
    func positionTable() throws -> [Float]
    func visionBlock(_ index: Int) throws -> VisionBlockWeights
    /// The final patch merger (norm over Hv before the 2×2 merge).
    func merger() throws -> MergerWeights
    /// DeepStack merger `index` (norm over m²·Hv after the merge).
    func deepstackMerger(_ index: Int) throws -> MergerWeights
}

extension ModelWeights {
    public func outputRows(_ range: Range<Int>, into buffer: UnsafeMutablePointer<Float>) throws {
        let rows = try outputRows(range)
        rows.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: rows.count) }
    }
}

/// A linear layer: `weight` [out, in], optional `bias` [out].
public struct LinearWeights {
    public var weight: [Float]
    public var bias: [Float]?
    public var outFeatures: Int
    public var inFeatures: Int

    public init(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int) {
        precondition(weight.count == outFeatures * inFeatures && (bias?.count ?? outFeatures) == outFeatures)
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    func apply(_ x: [Float], rows: Int) -> [Float] {
        BLAS.linearChunked(x, rows: rows, weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
    }
}

/// A norm's scale and (LayerNorm only) shift.
public struct NormWeights {
    public var weight: [Float]
    public var bias: [Float]?

    public init(weight: [Float], bias: [Float]? = nil) {
        self.weight = weight
        self.bias = bias
    }
}

/// One text decoder layer.
public struct TextLayerWeights {
    public var inputNorm: [Float]
    /// [nh·hd, H], rows head-major.
    public var q: LinearWeights
    /// [ng·hd, H].
    public var k: LinearWeights
    /// [ng·hd, H].
    public var v: LinearWeights
    /// [H, nh·hd].
    public var o: LinearWeights
    public var qNorm: [Float]
    public var kNorm: [Float]
    public var postAttentionNorm: [Float]
    public var mlp: TextMLPWeights

    public init(inputNorm: [Float], q: LinearWeights, k: LinearWeights, v: LinearWeights, o: LinearWeights,
                qNorm: [Float], kNorm: [Float], postAttentionNorm: [Float], mlp: TextMLPWeights) {
        self.inputNorm = inputNorm
        self.q = q
        self.k = k
        self.v = v
        self.o = o
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.postAttentionNorm = postAttentionNorm
        self.mlp = mlp
    }
}

/// A SwiGLU MLP: `down(silu(gate·x) ⊙ up·x)`; gate/up [F, H], down [H, F].
public struct GatedMLPWeights {
    public var gate: [Float]
    public var up: [Float]
    public var down: [Float]
    public var intermediate: Int

    public init(gate: [Float], up: [Float], down: [Float], intermediate: Int) {
        self.gate = gate
        self.up = up
        self.down = down
        self.intermediate = intermediate
    }
}

/// The MLP of a text layer.
public enum TextMLPWeights {
    case dense(GatedMLPWeights)
    case moe(MoEWeights)
}

/// A sparse MoE block: router [E, H] and a lazy reader of single experts, so only the experts a batch
/// routes to are read, one at a time.
public struct MoEWeights {
    public var router: [Float]
    public var numExperts: Int
    public var expert: (Int) throws -> GatedMLPWeights
    /// The experts as the checkpoint stores them, read straight into the forward pass's buffers (what the
    /// forward pass uses when present; `expert` gives the same matrices in the canonical layout).
    var stored: StoredExperts?

    public init(router: [Float], numExperts: Int, expert: @escaping (Int) throws -> GatedMLPWeights) {
        self.router = router
        self.numExperts = numExperts
        self.expert = expert
        stored = nil
    }

    init(router: [Float], numExperts: Int, stored: StoredExperts, expert: @escaping (Int) throws -> GatedMLPWeights) {
        self.init(router: router, numExperts: numExperts, expert: expert)
        self.stored = stored
    }
}

/// One expert's SwiGLU matrices in the orientation they are stored in, read into caller buffers: no
/// per-expert arrays and no transposes (the GEMMs take either orientation).
struct StoredExperts {
    enum Orientation {
        /// `gateUp` [H, 2I] and `down` [I, H], used as `x · W` (Hub / transformers 4.57 fused experts).
        case inputMajor
        /// `gateUp` [2I, H] and `down` [H, I], used as `x · Wᵀ` (PyTorch Linear; Megatron; transformers 5).
        case outputMajor
    }

    var orientation: Orientation
    var hidden: Int
    var intermediate: Int
    /// Reads expert `e`: gate then up (the first I of the 2I axis are gate) into `gateUp` (2I·H floats),
    /// down into `down` (I·H floats).
    var read: (_ expert: Int, _ gateUp: UnsafeMutablePointer<Float>, _ down: UnsafeMutablePointer<Float>) throws -> Void
}

/// One vision block: LayerNorm → attention (fused qkv, rows [Q(all heads); K; V]) → proj, LayerNorm → MLP.
public struct VisionBlockWeights {
    public var norm1: NormWeights
    /// [3·Hv, Hv], rows [Q; K; V], each head-major.
    public var qkv: LinearWeights
    public var proj: LinearWeights
    public var norm2: NormWeights
    public var fc1: LinearWeights
    public var fc2: LinearWeights

    public init(norm1: NormWeights, qkv: LinearWeights, proj: LinearWeights, norm2: NormWeights,
                fc1: LinearWeights, fc2: LinearWeights) {
        self.norm1 = norm1
        self.qkv = qkv
        self.proj = proj
        self.norm2 = norm2
        self.fc1 = fc1
        self.fc2 = fc2
    }
}

/// A patch merger: LayerNorm, then fc1 → GELU → fc2 on 2×2-merged tokens.
public struct MergerWeights {
    public var norm: NormWeights
    public var fc1: LinearWeights
    public var fc2: LinearWeights

    public init(norm: NormWeights, fc1: LinearWeights, fc2: LinearWeights) {
        self.norm = norm
        self.fc1 = fc1
        self.fc2 = fc2
    }
}
