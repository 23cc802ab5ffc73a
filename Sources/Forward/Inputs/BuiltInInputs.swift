extension ForwardInputs {
    /// Deterministic prompts for `verify` without an input file:
    /// - `text`: 16 ordinary token ids;
    /// - `image` (when the config has a vision tower): a chat-shaped prompt with a 64×96 gradient image
    ///   (grid [1, 4, 6] at patch 16) between vision_start / vision_end.
    ///
    /// Ordinary ids are drawn by a fixed LCG below every special id of the config and the vocab size.
    /// The image is patchified exactly as the Qwen2-VL processor would if it did not resize, so both
    /// weight readers see the same well-formed input; it is not meant to match a real processor run.
    public static func builtIn(config: ModelConfig) throws -> [(name: String, inputs: ForwardInputs)] {
        let limit = [config.text.vocabSize, config.imageTokenId, config.videoTokenId, config.visionStartTokenId,
                     config.visionEndTokenId].filter { $0 > 0 }.min() ?? config.text.vocabSize
        var state: UInt64 = 0x2024
        func nextId() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(limit, 1)))
        }
        var out: [(String, ForwardInputs)] = [("text", ForwardInputs(inputIds: (0..<16).map { _ in nextId() }))]
        guard let vision = config.vision else { return out }
        let side = vision.patchSize * vision.spatialMergeSize
        let height = 2 * side, width = 3 * side
        let image = ImagePatches.gradient(height: height, width: width)
        let (pixels, grid) = try ImagePatches.fromHWC(image, height: height, width: width, vision: vision)
        let imageTokens = grid.reduce(1, *) / (vision.spatialMergeSize * vision.spatialMergeSize)
        var ids = (0..<3).map { _ in nextId() } + [config.visionStartTokenId]
        ids += [Int](repeating: config.imageTokenId, count: imageTokens)
        ids += [config.visionEndTokenId] + (0..<5).map { _ in nextId() }
        out.append(("image", ForwardInputs(inputIds: ids, pixelValues: pixels, imageGridTHW: [grid])))
        return out
    }
}
