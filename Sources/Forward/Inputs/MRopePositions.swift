/// The (t, h, w) rotary positions of a prompt, as transformers' Qwen3-VL `get_rope_index` assigns them:
/// text tokens count up on all three axes; the tokens of an image (after the 2×2 merge) get
/// `start + (t, row, col)` of their merged grid cell, with `start` the position the image's first token
/// would have had; the text after an image continues at max(previous positions) + 1.
///
/// A video's grid (t, h, w) is split into t grids (1, h, w), one per temporal patch, because the prompt
/// writes each temporal patch as its own run of `<|video_pad|>` tokens between timestamps; each run is
/// then placed like an image.
struct MRopePositions {
    /// positions[axis][token], axis 0 = t, 1 = h, 2 = w.
    var positions: [[Int]]
    /// Token indices of the image and video tokens, in order (the rows the vision embeddings replace).
    var visionTokenRows: [Int]
    /// Token indices of the image tokens, in order.
    var imageTokenRows: [Int]
    /// Token indices of the video tokens, in order.
    var videoTokenRows: [Int]

    init(inputIds: [Int], imageGridTHW: [[Int]], videoGridTHW: [[Int]] = [], config: ModelConfig) throws {
        let s = inputIds.count
        positions = [[Int]](repeating: [Int](repeating: 0, count: s), count: 3)
        imageTokenRows = inputIds.indices.filter { inputIds[$0] == config.imageTokenId }
        videoTokenRows = inputIds.indices.filter { inputIds[$0] == config.videoTokenId }
        visionTokenRows = inputIds.indices.filter { inputIds[$0] == config.imageTokenId || inputIds[$0] == config.videoTokenId }
        guard !visionTokenRows.isEmpty || !imageGridTHW.isEmpty || !videoGridTHW.isEmpty else {
            for i in 0..<s { for a in 0..<3 { positions[a][i] = i } }
            return
        }
        guard let vision = config.vision else {
            throw ForwardError(.input, "the prompt has image or video tokens but the config has no vision_config")
        }
        let m = vision.spatialMergeSize
        let frameGrids = videoGridTHW.flatMap { g in [[Int]](repeating: [1, g[1], g[2]], count: g[0]) }
        var next = 0          // position of the next text token
        var i = 0
        var used = [0, 0]     // images, video temporal patches
        while i < s {
            let kind = inputIds[i] == config.imageTokenId ? 0 : inputIds[i] == config.videoTokenId ? 1 : -1
            guard kind >= 0 else {
                for a in 0..<3 { positions[a][i] = next }
                next += 1
                i += 1
                continue
            }
            let grids = kind == 0 ? imageGridTHW : frameGrids
            let what = kind == 0 ? "image" : "video temporal patch"
            let token = kind == 0 ? config.imageTokenId : config.videoTokenId
            guard used[kind] < grids.count else {
                throw ForwardError(.input, "the prompt has more \(what) token runs than \(kind == 0 ? "images" : "video temporal patches") (\(grids.count))")
            }
            let g = grids[used[kind]]
            let gt = g[0], gh = g[1] / m, gw = g[2] / m
            let count = gt * gh * gw
            guard i + count <= s, inputIds[i..<(i + count)].allSatisfy({ $0 == token }) else {
                throw ForwardError(.input, "\(what) \(used[kind]) (grid \(g)) needs \(count) consecutive tokens \(token) at token \(i)")
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
            used[kind] += 1
        }
        guard used[0] == imageGridTHW.count else {
            throw ForwardError(.input, "\(imageGridTHW.count) images but image tokens for \(used[0])")
        }
        guard used[1] == frameGrids.count else {
            throw ForwardError(.input, "the videos have \(frameGrids.count) temporal patches but the prompt has video token runs for \(used[1])")
        }
    }
}
