extension Qwen3VLForward {
    /// The vision tower's outputs for the prompt's image and video tokens, one row per token of
    /// `positions.visionTokenRows` in prompt order, with the DeepStack rows likewise.
    ///
    /// Images and videos go through the tower separately (as transformers' `get_image_features` and
    /// `get_video_features` do; a video is a grid with t > 1, its frames attending within themselves); the
    /// image rows then go to the image tokens and the video rows to the video tokens, and DeepStack's rows
    /// are joined in the same token order (transformers' `visual_pos_masks`).
    func visionEmbeddings(_ inputs: ForwardInputs, positions: MRopePositions,
                          trace: ForwardTrace?) throws -> (embeddings: [Float], deepstack: [[Float]]) {
        let h = config.text.hiddenSize
        func encode(_ pixels: [Float]?, grids: [[Int]], rows: [Int], what: String) throws -> VisionEncoder.Output? {
            guard !rows.isEmpty else {
                if pixels != nil { throw ForwardError(.input, "\(what) pixel values are given but the prompt has no \(what) tokens") }
                return nil
            }
            guard let vision = config.vision, let pixels else {
                throw ForwardError(.input, "the prompt has \(what) tokens but no \(what) pixel values")
            }
            let encoder = VisionEncoder(config: vision, weights: weights, mergerGELU: options.mergerGELU)
            let out = try encoder.forward(pixelValues: pixels, grids: grids, trace: trace)
            guard out.embeddings.count == rows.count * h else {
                throw ForwardError(.input, "\(rows.count) \(what) tokens but the \(what)s give \(out.embeddings.count / h) embeddings")
            }
            return out
        }
        let image = try encode(inputs.pixelValues, grids: inputs.imageGridTHW, rows: positions.imageTokenRows, what: "image")
        let video = try encode(inputs.pixelValuesVideos, grids: inputs.videoGridTHW, rows: positions.videoTokenRows, what: "video")
        switch (image, video) {
        case (nil, nil): return ([], [])
        case let (image?, nil): return (image.embeddings, image.deepstack)
        case let (nil, video?): return (video.embeddings, video.deepstack)
        case let (image?, video?):
            let isImage = Set(positions.imageTokenRows)
            func join(_ a: [Float], _ b: [Float]) -> [Float] {
                var out = [Float](), ai = 0, bi = 0
                out.reserveCapacity(a.count + b.count)
                for r in positions.visionTokenRows {
                    if isImage.contains(r) { out += a[(ai * h)..<((ai + 1) * h)]; ai += 1 } else { out += b[(bi * h)..<((bi + 1) * h)]; bi += 1 }
                }
                return out
            }
            return (join(image.embeddings, video.embeddings), zip(image.deepstack, video.deepstack).map { join($0, $1) })
        }
    }
}
