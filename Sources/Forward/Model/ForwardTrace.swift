/// Intermediate tensors of one forward pass, for localising a mismatch.
///
/// Keys follow the oracle's reference.safetensors without the prompt prefix (`text.` / `image.`), so
/// a test can compare `trace["text.layer0.output"]` with `image.text.layer0.output`:
/// `position_ids` [3, 1, S]; `text.rope_cos` / `text.rope_sin` [1, S, hd];
/// `text.layer{i}.{input, attn_output, mlp_output, output}` [1, S, H] (output is before DeepStack);
/// `text.layer{i}.router_logits` [S, E], `.router_topk_weights` / `.router_topk_experts` [S, k] (MoE);
/// `text.final_norm_input` / `text.final_norm_output` [1, S, H];
/// `vision.patch_embed_output`, `vision.pos_embeds`, `vision.blocks_input`, `vision.block{b}.output` [P, Hv];
/// `vision.pos_interp_indices` / `vision.pos_interp_weights` [P, 4]; `vision.rope_cos` / `vision.rope_sin` [P, hdv];
/// `vision.merger_output`, `vision.deepstack{k}.output` [tokens, H].
public final class ForwardTrace {
    public struct Tensor {
        public var shape: [Int]
        public var values: [Float]
    }

    public private(set) var tensors: [String: Tensor] = [:]

    public init() {}

    public subscript(key: String) -> Tensor? { tensors[key] }

    public var keys: [String] { tensors.keys.sorted() }

    func record(_ key: String, _ shape: [Int], _ values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "trace \(key): shape \(shape) does not match \(values.count) values")
        tensors[key] = Tensor(shape: shape, values: values)
    }
}

extension Optional where Wrapped == ForwardTrace {
    /// Records only when tracing; the closure is not evaluated otherwise.
    func record(_ key: String, _ shape: [Int], _ values: @autoclosure () -> [Float]) {
        if let t = self { t.record(key, shape, values()) }
    }
}
