import TensorCore

/// Weights of a Megatron-Core Qwen3-VL model (as Megatron-Bridge builds it), read by storage key with
/// Megatron's own runtime semantics. Written from Megatron's module definitions, not from any
/// HF→Megatron mapping, so that it checks the converter instead of mirroring it:
///
/// - layers stacked (`language_model.decoder.layers.<param>`, leading layer axis) or per layer
///   (`language_model.decoder.layers.<l>.<param>`);
/// - `self_attention.linear_qkv.weight` split per query group as `get_query_key_value_tensors` does;
///   `linear_qkv.layer_norm_weight` is the input RMSNorm (TE fused);
/// - dense `mlp.linear_fc1.weight` = [gate; up] (chunk(2)); its norm is `mlp.linear_fc1.layer_norm_weight`
///   (TE fused); MoE layers use `pre_mlp_layernorm.weight`, `mlp.router.weight` and grouped experts
///   `mlp.experts.experts.linear_fc{1,2}.weight` [L, E, ...] (also per layer, and TE's in-memory
///   `linear_fc1.weight<e>` of legacy ranks);
/// - only the spellings Megatron-Bridge's Qwen3-VL model has, which are the ones the mapping tables accept:
///   a checkpoint `export` refuses (a local-spec `input_layernorm.weight`, SequentialMLP `local_experts`)
///   is refused here too, so `verify` cannot pass where conversion fails;
/// - `output_layer.weight`, or `embedding.word_embeddings.weight` when the embeddings are shared;
///   rows beyond the config's vocab are padding and never read.
public final class MegatronWeights: ModelWeights, StreamingWeights {
    public let config: ModelConfig
    /// The vision layout found (nil when the store holds no vision tower).
    public let visionLayout: MegatronVisionLayout?
    let table: TensorTable
    let layers: MegatronStack
    private let lm = "language_model."

    /// - Parameters:
    ///   - store: the global tensors by storage key (a torch_dist store, reassembled legacy ranks, or a
    ///     safetensors file of global tensors such as the oracle's `megatron_global_tensors.safetensors`).
    ///   - config: the HF config.json of the model (Megatron-Bridge builds its provider from it).
    ///   - visionLayout: `.auto` detects it from the keys.
    public init(store: TensorStore, config: ModelConfig, visionLayout: MegatronVisionLayout = .auto) throws {
        self.config = config
        table = TensorTable(keys: store.tensorNames, origin: store.origin) { try store.tensorSource($0) }
        layers = MegatronStack(table: table, prefix: "language_model.decoder.layers", count: config.text.numLayers)
        guard table.has(lm + "embedding.word_embeddings.weight") else {
            throw ForwardError(.missingWeight, "no language_model.embedding.word_embeddings.weight: not a Megatron Qwen3-VL checkpoint",
                               file: store.origin, key: lm + "embedding.word_embeddings.weight",
                               hint: "a pipeline-parallel checkpoint must be read with all stages merged")
        }
        if visionLayout == .auto {
            self.visionLayout = MegatronVisionLayout.detect(keys: table.keys)
        } else {
            self.visionLayout = visionLayout
        }
    }

    private var h: Int { config.text.hiddenSize }

    public func embeddingRows(_ ids: [Int]) throws -> [Float] {
        let key = lm + "embedding.word_embeddings.weight"
        return try table.gather(key, ids: ids, width: h, minRows: config.text.vocabSize)
    }

    public func textLayer(_ l: Int) throws -> TextLayerWeights {
        try streamedTextLayer(l).materialized()
    }

    func streamedTextLayer(_ l: Int) throws -> StreamedTextLayer {
        let t = config.text
        try ForwardError.checkIndex(l, below: t.numLayers, "text layer")
        let hd = t.headDim, nh = t.numHeads, ng = t.numKVHeads
        let qkvRows = (nh + 2 * ng) * hd
        let qkv = try layers.matrix("self_attention.linear_qkv.weight", l, rows: qkvRows, cols: h)
        var qb: [Float]?, kb: [Float]?, vb: [Float]?
        if t.attentionBias {
            let b = MegatronQKV.split(try layers.floats("self_attention.linear_qkv.bias", l, shape: [qkvRows]),
                                      heads: nh, groups: ng, headDim: hd, cols: 1)
            (qb, kb, vb) = (b.q, b.k, b.v)
        }
        let rows = MegatronQKV.rowRanges(heads: nh, groups: ng, headDim: hd)
        let proj = try layers.matrix("self_attention.linear_proj.weight", l, rows: h, cols: nh * hd)
        let projBias = t.attentionBias ? try layers.floats("self_attention.linear_proj.bias", l, shape: [h]) : nil
        let sparse = t.isSparse(layer: l)
        // TE fuses the pre-MLP norm into linear_fc1 for dense layers; MoE layers keep a separate norm.
        let preMLPName = sparse ? "pre_mlp_layernorm.weight" : "mlp.linear_fc1.layer_norm_weight"
        return StreamedTextLayer(
            inputNorm: try layers.floats("self_attention.linear_qkv.layer_norm_weight", l, shape: [h]),
            q: StreamedLinear(weight: qkv.segments(rows.q), bias: qb),
            k: StreamedLinear(weight: qkv.segments(rows.k), bias: kb),
            v: StreamedLinear(weight: qkv.segments(rows.v), bias: vb),
            o: StreamedLinear(weight: proj, bias: projBias),
            qNorm: try layers.floats("self_attention.q_layernorm.weight", l, shape: [hd]),
            kNorm: try layers.floats("self_attention.k_layernorm.weight", l, shape: [hd]),
            postAttentionNorm: try layers.floats(preMLPName, l, shape: [h]),
            mlp: sparse ? .moe(try moe(l)) : try denseMLP(l))
    }

    private func denseMLP(_ l: Int) throws -> StreamedTextLayer.MLP {
        let f = config.text.intermediateSize
        // fc1 [2F, H] is chunk(2) into gate and up.
        let fc1 = try layers.matrix("mlp.linear_fc1.weight", l, rows: 2 * f, cols: h)
        return .dense(gate: StreamedLinear(weight: fc1.slice(0..<f), bias: nil), up: StreamedLinear(weight: fc1.slice(f..<(2 * f)), bias: nil),
                      down: StreamedLinear(weight: try layers.matrix("mlp.linear_fc2.weight", l, rows: h, cols: f), bias: nil))
    }

    private func moe(_ l: Int) throws -> MoEWeights {
        guard let m = config.text.moe else { throw ForwardError(.config, "MoE layer without MoE config") }
        let e = m.numExperts, inter = m.intermediateSize, h = self.h
        let router = try layers.floats("mlp.router.weight", l, shape: [e, h])
        let layers = self.layers
        let grouped = "mlp.experts.experts.linear_fc1.weight"
        if layers.has(grouped, l) {
            let fc2 = "mlp.experts.experts.linear_fc2.weight"
            // fc1 [2I, H] is [gate; up] (chunk(2)) and fc2 [H, I]: the output-major stored layout as is.
            let stored = StoredExperts(orientation: .outputMajor, hidden: h, intermediate: inter) { x, gateUp, down in
                try layers.read(grouped, l, sub: x, of: e, shape: [2 * inter, h], into: gateUp)
                try layers.read(fc2, l, sub: x, of: e, shape: [h, inter], into: down)
            }
            return MoEWeights(router: router, numExperts: e, stored: stored) { x in
                Self.expert(fc1: try layers.floats(grouped, l, sub: x, of: e, shape: [2 * inter, h]),
                            fc2: try layers.floats("mlp.experts.experts.linear_fc2.weight", l, sub: x, of: e, shape: [h, inter]),
                            hidden: h, intermediate: inter)
            }
        }
        // TEGroupedMLP's in-memory spelling `linear_fc1.weight<e>` (legacy ranks hold the state_dict as is).
        let te = layers.itemKey("mlp.experts.linear_fc1.weight0", l)
        let table = self.table
        if table.has(te) {
            let keys = { (x: Int) -> (String, String) in
                (layers.itemKey("mlp.experts.linear_fc1.weight\(x)", l), layers.itemKey("mlp.experts.linear_fc2.weight\(x)", l))
            }
            let stored = StoredExperts(orientation: .outputMajor, hidden: h, intermediate: inter) { x, gateUp, down in
                let (k1, k2) = keys(x)
                try table.read(k1, shape: [2 * inter, h], box: Box(shape: [2 * inter, h]), into: gateUp)
                try table.read(k2, shape: [h, inter], box: Box(shape: [h, inter]), into: down)
            }
            return MoEWeights(router: router, numExperts: e, stored: stored) { x in
                let (k1, k2) = keys(x)
                return Self.expert(fc1: try table.floats(k1, shape: [2 * inter, h]), fc2: try table.floats(k2, shape: [h, inter]),
                                   hidden: h, intermediate: inter)
            }
        }
        throw table.missing("experts of layer \(l)", tried: [layers.stackedKey(grouped), layers.itemKey(grouped, l), te])
    }

    /// One expert: fc1 [2I, H] is chunk(2) into gate and up (Megatron's gated linear unit), fc2 [H, I].
    private static func expert(fc1: [Float], fc2: [Float], hidden h: Int, intermediate i: Int) -> GatedMLPWeights {
        GatedMLPWeights(gate: Layout.rows(fc1, from: 0, count: i, width: h), up: Layout.rows(fc1, from: i, count: i, width: h),
                        down: fc2, intermediate: i)
    }

    public func finalNorm() throws -> [Float] {
        try table.floats(lm + "decoder.final_layernorm.weight", shape: [h])
    }

    public func outputRows(_ range: Range<Int>) throws -> [Float] {
        try table.rows(outputKey, range, width: h, minRows: config.text.vocabSize)
    }

    public func outputRows(_ range: Range<Int>, into buffer: UnsafeMutablePointer<Float>) throws {
        try table.rows(outputKey, range, width: h, minRows: config.text.vocabSize, into: buffer)
    }

    /// share_embeddings_and_output_weights comes from the top-level tie_word_embeddings.
    private var outputKey: String {
        lm + (config.tieWordEmbeddings ? "embedding.word_embeddings.weight" : "output_layer.weight")
    }

    private func vision() throws -> MegatronVisionReader {
        guard let v = config.vision else { throw ForwardError(.config, "config.json has no vision_config") }
        guard let visionLayout else {
            throw ForwardError(.missingWeight, "the checkpoint holds no vision tower (no vision_model.* keys)", file: table.origin,
                               key: "vision_model.patch_embed.proj.weight")
        }
        return MegatronVisionReader(table: table, config: v, layout: visionLayout)
    }

    public func patchEmbed() throws -> LinearWeights { try vision().patchEmbed() }
    public func positionTable() throws -> [Float] { try vision().positionTable() }
    public func visionBlock(_ index: Int) throws -> VisionBlockWeights { try vision().block(index) }
    public func merger() throws -> MergerWeights { try vision().merger() }
    public func deepstackMerger(_ index: Int) throws -> MergerWeights { try vision().deepstackMerger(index) }
}
