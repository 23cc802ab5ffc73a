/// The (t, h, w) rotary positions of a prompt, as transformers' Qwen3-VL `get_rope_index` assigns them:
/// text tokens count up on all three axes; the tokens of an image (after the 2×2 merge) get
/// `start + (t, row, col)` of their merged grid cell, with `start` the position the image's first token
/// would have had; the text after an image continues at max(previous positions) + 1.
struct MRopePositions {
    /// positions[axis][token], axis 0 = t, 1 = h, 2 = w.
    var positions: [[Int]]
    /// Token indices of the image tokens, in order (the rows the vision embeddings replace).
    var imageTokenRows: [Int]

    init(inputIds: [Int], imageGridTHW: [[Int]], config: ModelConfig) throws {
        let s = inputIds.count
        positions = [[Int]](repeating: [Int](repeating: 0, count: s), count: 3)
        imageTokenRows = inputIds.indices.filter { inputIds[$0] == config.imageTokenId }
        if inputIds.contains(config.videoTokenId) {
            throw ForwardError(.input, "video tokens are not supported by the reference forward pass")
        }
        guard !imageTokenRows.isEmpty || !imageGridTHW.isEmpty else {
            for i in 0..<s { for a in 0..<3 { positions[a][i] = i } }
            return
        }
        guard let vision = config.vision else {
            throw ForwardError(.input, "the prompt has image tokens but the config has no vision_config")
        }
        let m = vision.spatialMergeSize
        var next = 0          // position of the next text token
        var i = 0
        var image = 0
        while i < s {
            guard inputIds[i] == config.imageTokenId else {
                for a in 0..<3 { positions[a][i] = next }
                next += 1
                i += 1
                continue
            }
            guard image < imageGridTHW.count else {
                throw ForwardError(.input, "the prompt has more image token runs than images (\(imageGridTHW.count))")
            }
            let g = imageGridTHW[image]
            let gt = g[0], gh = g[1] / m, gw = g[2] / m
            let count = gt * gh * gw
            guard i + count <= s, inputIds[i..<(i + count)].allSatisfy({ $0 == config.imageTokenId }) else {
                throw ForwardError(.input, "image \(image) (grid \(g)) needs \(count) consecutive image tokens at token \(i)")
            }
            var maxPos = next
            for k in 0..<count {
                let t = k / (gh * gw), r = (k / gw) % gh, c = k % gw
                positions[0][i + k] = next + t
                positions[1][i + k] = next + r
                positions[2][i + k] = next + c
                maxPos = max(maxPos, next + max(t, r, c))
            }
            next = maxPos + 1
            i += count
            image += 1
        }
        guard image == imageGridTHW.count else {
            throw ForwardError(.input, "\(imageGridTHW.count) images but image tokens for \(image)")
        }
    }
}
