/// A patch merger: 2×2 neighbouring patches (consecutive rows in merge-block order) become one token of
/// width m²·Hv, then fc1 → GELU → fc2. The final merger normalises each patch (width Hv) before the merge;
/// the DeepStack mergers normalise the merged token (width m²·Hv) after it. LayerNorm eps is 1e-6.
enum PatchMerger {
    static func forward(_ x: [Float], patches: Int, weights w: MergerWeights, postShuffleNorm: Bool,
                        config v: VisionConfig, gelu: GELUKind) -> [Float] {
        let mh = v.mergedHidden, tokens = patches / (v.spatialMergeSize * v.spatialMergeSize)
        let normWidth = postShuffleNorm ? mh : v.hiddenSize
        let normed = Norms.layer(x, width: normWidth, weight: w.norm.weight, bias: w.norm.bias ?? [Float](repeating: 0, count: normWidth), eps: 1e-6)
        var hidden = w.fc1.apply(normed, rows: tokens)
        Activations.gelu(&hidden, gelu)
        return w.fc2.apply(hidden, rows: tokens)
    }
}
