/// The keys and values of every text layer for the tokens seen so far (after q/k-norm and rotary), so that
/// each generated token runs the decoder on one row and attends over the cached rows.
/// Memory: layers × tokens × 2 × kvHeads·headDim floats.
public final class KVCache {
    let width: Int
    private(set) var keys: [[Float]]
    private(set) var values: [[Float]]

    init(layers: Int, kvHeads: Int, headDim: Int) {
        width = kvHeads * headDim
        keys = Array(repeating: [], count: layers)
        values = keys
    }

    /// Cached rows of `layer` (every layer holds the same number once a step has run).
    func rows(_ layer: Int) -> Int { keys[layer].count / width }

    func append(layer: Int, keys k: [Float], values v: [Float]) {
        keys[layer] += k
        values[layer] += v
    }
}
