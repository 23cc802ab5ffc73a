/// Image prompts from processed images: the placeholder tokens and their place among the prompt's ids.
///
/// An image stands in the prompt as `<|vision_start|>`, `<|image_pad|>` repeated once per merged patch
/// (t·h·w / merge²), `<|vision_end|>`, with the ids from the model's config, as Qwen3-VL's processor
/// expands its chat template.
public enum ImageInput {
    /// Placeholder tokens of one image with grid (t, h, w).
    public static func placeholder(grid: [Int], config: ModelConfig) throws -> [Int] {
        [config.visionStartTokenId] + [Int](repeating: config.imageTokenId, count: try mergedTokens(grid: grid, config: config))
            + [config.visionEndTokenId]
    }

    /// t·h·w / merge²: how many `<|image_pad|>` tokens an image takes.
    public static func mergedTokens(grid: [Int], config: ModelConfig) throws -> Int {
        guard let vision = config.vision else {
            throw ForwardError(.input, "--image needs a model with a vision tower; this config has no vision_config")
        }
        let m = vision.spatialMergeSize
        guard grid.count == 3, grid[1] % m == 0, grid[2] % m == 0 else {
            throw ForwardError(.input, "image grid \(grid) is not a multiple of the merge size \(m)")
        }
        return grid[0] * grid[1] * grid[2] / (m * m)
    }

    /// The prompt with the images put in, and the images' rows concatenated.
    ///
    /// - Where `ids` hold one `<|image_pad|>` per image (the unexpanded form a tokenizer gives for a chat
    ///   template), each is expanded in place to the image's count; `<|vision_start|>`/`<|vision_end|>`
    ///   around it are the prompt's own.
    /// - Where `ids` hold no image token, each image's full placeholder is put before them.
    /// Anything else (already expanded runs, a count that differs from the images) is refused.
    public static func combine(ids: [Int], images: [(pixelValues: [Float], gridTHW: [Int])], config: ModelConfig) throws -> ForwardInputs {
        guard !images.isEmpty else { return ForwardInputs(inputIds: ids) }
        let pads = ids.indices.filter { ids[$0] == config.imageTokenId }
        var out = [Int]()
        if pads.isEmpty {
            for image in images { out += try placeholder(grid: image.gridTHW, config: config) }
            out += ids
        } else {
            let runs = zip(pads, pads.dropFirst()).filter { $0.1 == $0.0 + 1 }
            guard pads.count == images.count, runs.isEmpty else {
                throw ForwardError(.input, "the input ids hold \(pads.count) <|image_pad|> tokens (id \(config.imageTokenId)) for \(images.count) images",
                                   hint: "give one <|image_pad|> per --image (it is expanded to the image's patch count), or none to put the images first")
            }
            var image = 0
            for id in ids {
                if id == config.imageTokenId {
                    out += [Int](repeating: config.imageTokenId, count: try mergedTokens(grid: images[image].gridTHW, config: config))
                    image += 1
                } else {
                    out.append(id)
                }
            }
        }
        return ForwardInputs(inputIds: out, pixelValues: images.flatMap { $0.pixelValues }, imageGridTHW: images.map { $0.gridTHW })
    }
}
