import SafeTensors
import TensorCore

/// Weights of a Hugging Face Qwen3-VL / Qwen3-VL-MoE checkpoint, read with transformers' names and
/// semantics: separate q/k/v and gate/up projections, `lm_head.weight` unless `tie_word_embeddings`,
/// and fused experts in any of the layouts transformers has written (see `FusedExpertLayout`).
public final class HFWeights: ModelWeights, StreamingWeights {
    public let config: ModelConfig
    let table: TensorTable
    private let text = "model.language_model."
    private let visual = "model.visual."

    /// - Parameters:
    ///   - checkpoint: the HF folder or file (bf16/f16 weights are upcast on read).
    ///   - config: the model's config.json, parsed.
    public init(checkpoint: SafeTensorsCheckpoint, config: ModelConfig) {
        self.config = config
        table = TensorTable(keys: checkpoint.names, origin: checkpoint.directory) { try checkpoint.tensor($0) }
    }

    /// Weights read through any named store (a checkpoint seen through a dequantizing view, ...).
    public init(store: TensorStore, config: ModelConfig) {
        self.config = config
        table = TensorTable(keys: store.tensorNames, origin: store.origin) { try store.tensorSource($0) }
    }

    private var h: Int { config.text.hiddenSize }

    public func embeddingRows(_ ids: [Int]) throws -> [Float] {
        let key = text + "embed_tokens.weight"
        try table.expect(key, try table.shape(key), [config.text.vocabSize, h])
        return try table.gather(key, ids: ids, width: h, minRows: config.text.vocabSize)
    }

    public func textLayer(_ i: Int) throws -> TextLayerWeights {
        try streamedTextLayer(i).materialized()
    }

    func streamedTextLayer(_ i: Int) throws -> StreamedTextLayer {
        let t = config.text
        try ForwardError.checkIndex(i, below: t.numLayers, "text layer")
        let p = "\(text)layers.\(i)."
        let qRows = t.numHeads * t.headDim, kvRows = t.numKVHeads * t.headDim
        func proj(_ name: String, _ rows: Int, _ cols: Int, bias: Bool) throws -> StreamedLinear {
            StreamedLinear(weight: try .tensor(table, p + name + ".weight", rows: rows, cols: cols),
                           bias: bias ? try table.floats(p + name + ".bias", shape: [rows]) : nil)
        }
        let mlp: StreamedTextLayer.MLP
        if t.isSparse(layer: i) {
            mlp = .moe(try moe(p))
        } else {
            let f = t.intermediateSize
            mlp = .dense(gate: try proj("mlp.gate_proj", f, h, bias: false), up: try proj("mlp.up_proj", f, h, bias: false),
                         down: try proj("mlp.down_proj", h, f, bias: false))
        }
        return StreamedTextLayer(
            inputNorm: try table.floats(p + "input_layernorm.weight", shape: [h]),
            q: try proj("self_attn.q_proj", qRows, h, bias: t.attentionBias),
            k: try proj("self_attn.k_proj", kvRows, h, bias: t.attentionBias),
            v: try proj("self_attn.v_proj", kvRows, h, bias: t.attentionBias),
            o: try proj("self_attn.o_proj", h, qRows, bias: t.attentionBias),
            qNorm: try table.floats(p + "self_attn.q_norm.weight", shape: [t.headDim]),
            kNorm: try table.floats(p + "self_attn.k_norm.weight", shape: [t.headDim]),
            postAttentionNorm: try table.floats(p + "post_attention_layernorm.weight", shape: [h]),
            mlp: mlp)
    }

    private func moe(_ p: String) throws -> MoEWeights {
        guard let m = config.text.moe else { throw ForwardError(.config, "MoE layer without MoE config") }
        let e = m.numExperts, inter = m.intermediateSize, h = self.h
        let router = try table.floats(p + "mlp.gate.weight", shape: [e, h])
        let fused = p + "mlp.experts.gate_up_proj", down = p + "mlp.experts.down_proj"
        let table = self.table
        if table.has(fused) || table.has(down) {
            let layout = try FusedExpertLayout.detect(table: table, gateUp: fused, down: down, experts: e, hidden: h, intermediate: inter)
            let stored = StoredExperts(orientation: layout == .inputMajor ? .inputMajor : .outputMajor, hidden: h,
                                       intermediate: inter) { x, gateUp, downBuffer in
                let (gu, dn) = layout == .inputMajor ? ([e, h, 2 * inter], [e, inter, h]) : ([e, 2 * inter, h], [e, h, inter])
                try table.read(fused, shape: gu, box: Box(offsets: [x, 0, 0], sizes: [1, gu[1], gu[2]]), into: gateUp)
                try table.read(down, shape: dn, box: Box(offsets: [x, 0, 0], sizes: [1, dn[1], dn[2]]), into: downBuffer)
            }
            return MoEWeights(router: router, numExperts: e, stored: stored) { x in
                try layout.expert(x, table: table, gateUp: fused, down: down, hidden: h, intermediate: inter)
            }
        }
        // Per-expert keys (what some transformers 5 versions save).
        let first = p + "mlp.experts.0.gate_proj.weight"
        guard table.has(first) else {
            throw table.missing("MoE experts of layer \(p)", tried: [fused, down, first])
        }
        let stored = StoredExperts(orientation: .outputMajor, hidden: h, intermediate: inter) { x, gateUp, downBuffer in
            let q = "\(p)mlp.experts.\(x)."
            try table.read(q + "gate_proj.weight", shape: [inter, h], box: Box(shape: [inter, h]), into: gateUp)
            try table.read(q + "up_proj.weight", shape: [inter, h], box: Box(shape: [inter, h]), into: gateUp + inter * h)
            try table.read(q + "down_proj.weight", shape: [h, inter], box: Box(shape: [h, inter]), into: downBuffer)
        }
        return MoEWeights(router: router, numExperts: e, stored: stored) { x in
            let q = "\(p)mlp.experts.\(x)."
            return GatedMLPWeights(gate: try table.floats(q + "gate_proj.weight", shape: [inter, h]),
                                   up: try table.floats(q + "up_proj.weight", shape: [inter, h]),
                                   down: try table.floats(q + "down_proj.weight", shape: [h, inter]), intermediate: inter)
        }
    }

    public func finalNorm() throws -> [Float] {
        try table.floats(text + "norm.weight", shape: [h])
    }

    public func outputRows(_ range: Range<Int>) throws -> [Float] {
        let key = try outputKey()
        return try table.rows(key, range, width: h, minRows: config.text.vocabSize)
    }

    public func outputRows(_ range: Range<Int>, into buffer: UnsafeMutablePointer<Float>) throws {
        let key = try outputKey()
        try table.rows(key, range, width: h, minRows: config.text.vocabSize, into: buffer)
    }

    private func outputKey() throws -> String {
        let key = config.tieWordEmbeddings ? text + "embed_tokens.weight" : "lm_head.weight"
        try table.expect(key, try table.shape(key), [config.text.vocabSize, h])
        return key
    }

    private func vision() throws -> HFVisionReader {
        guard let v = config.vision else { throw ForwardError(.config, "config.json has no vision_config") }
        return HFVisionReader(table: table, prefix: visual, config: v)
    }

    public func patchEmbed() throws -> LinearWeights { try vision().patchEmbed() }
    public func positionTable() throws -> [Float] { try vision().positionTable() }
    public func visionBlock(_ index: Int) throws -> VisionBlockWeights { try vision().block(index) }
    public func merger() throws -> MergerWeights { try vision().merger() }
    public func deepstackMerger(_ index: Int) throws -> MergerWeights { try vision().deepstackMerger(index) }
}

/// The two fused-expert layouts transformers has stored, told apart by shape:
/// Hub / 4.57 "input-major" `gate_up_proj [E, H, 2I]`, `down_proj [E, I, H]` (used as `x @ W`), and
/// transformers-5 native "output-major" `[E, 2I, H]`, `[E, H, I]` (used as `F.linear(x, W)`).
/// In both, gate is the first half of the 2I axis and up the second.
enum FusedExpertLayout {
    case inputMajor
    case outputMajor

    static func detect(table: TensorTable, gateUp: String, down: String, experts e: Int, hidden h: Int,
                       intermediate i: Int) throws -> FusedExpertLayout {
        let gu = try table.shape(gateUp), dn = try table.shape(down)
        if h == 2 * i || h == i {
            throw ForwardError(.badWeight, "fused expert layout is ambiguous: hidden \(h) and moe_intermediate \(i) make both layouts the same shape",
                               file: table.origin, key: gateUp, hint: "store the experts per expert (experts.{e}.gate_proj.weight ...)")
        }
        if gu == [e, h, 2 * i] && dn == [e, i, h] { return .inputMajor }
        if gu == [e, 2 * i, h] && dn == [e, h, i] { return .outputMajor }
        throw ForwardError(.badWeight, "fused experts have shapes \(Shape.describe(gu)) / \(Shape.describe(dn)); expected [\(e), \(h), \(2 * i)] / [\(e), \(i), \(h)] (hub) or [\(e), \(2 * i), \(h)] / [\(e), \(h), \(i)] (transformers 5)",
                           file: table.origin, key: gateUp)
    }

    /// Expert `x` in the canonical [out, in] layout.
    func expert(_ x: Int, table: TensorTable, gateUp: String, down: String, hidden h: Int, intermediate i: Int) throws -> GatedMLPWeights {
        switch self {
        case .inputMajor:
            let gu = try FloatReader.floats(try table.source(gateUp), Box(offsets: [x, 0, 0], sizes: [1, h, 2 * i]))   // [H, 2I]
            let dn = try FloatReader.floats(try table.source(down), Box(offsets: [x, 0, 0], sizes: [1, i, h]))         // [I, H]
            return GatedMLPWeights(gate: Layout.transpose(Layout.columns(gu, rows: h, width: 2 * i, from: 0, count: i), rows: h, cols: i),
                                   up: Layout.transpose(Layout.columns(gu, rows: h, width: 2 * i, from: i, count: i), rows: h, cols: i),
                                   down: Layout.transpose(dn, rows: i, cols: h), intermediate: i)
        case .outputMajor:
            let gu = try FloatReader.floats(try table.source(gateUp), Box(offsets: [x, 0, 0], sizes: [1, 2 * i, h]))   // [2I, H]
            let dn = try FloatReader.floats(try table.source(down), Box(offsets: [x, 0, 0], sizes: [1, h, i]))         // [H, I]
            return GatedMLPWeights(gate: Layout.rows(gu, from: 0, count: i, width: h),
                                   up: Layout.rows(gu, from: i, count: i, width: h), down: dn, intermediate: i)
        }
    }
}
