import Forward
import Testing

/// Every intermediate the oracle recorded (rope tables, position interpolation, vision blocks, mergers,
/// DeepStack, per-layer outputs, router) against the forward's trace, so a mismatch is localised.
@Suite struct IntermediateTests {
    /// Keys compared exactly (integers carried as floats).
    static let exact: Set<String> = ["position_ids", "vision.pos_interp_indices"]

    @Test(arguments: TinyModel.allCases, ["text", "image"])
    func traceMatchesTransformersIntermediates(model: TinyModel, prompt: String) throws {
        let ref = try model.reference()
        let trace = ForwardTrace()
        let weights = try model.hfWeights()
        _ = try Qwen3VLForward(config: weights.config, weights: weights).run(try ref.inputs(prompt), trace: trace)

        var compared = 0
        var worst = (key: "", diff: Float(0))
        for key in trace.keys {
            let refKey = "\(prompt).\(key)"
            guard ref.has(refKey) else { continue }
            let expected = try ref.floats(refKey), got = trace[key]!, refShape = try ref.shape(refKey)
            #expect(refShape.reduce(1, *) == got.values.count, "\(key): shape \(got.shape) vs reference \(refShape)")
            guard expected.count == got.values.count else { continue }
            let d = maxAbsDiff(got.values, expected)
            compared += 1
            if key.hasSuffix("router_topk_experts") || Self.exact.contains(key) {
                #expect(d == 0, "\(model) \(prompt) \(key) differs from transformers")
                continue
            }
            // Activations grow through the residual stream: scale the bound by the reference's magnitude.
            let scale = max(1, expected.map(abs).max() ?? 0)
            #expect(d <= 2e-5 * scale, "\(model) \(prompt) \(key): max abs diff \(d) (scale \(scale))")
            if d > worst.diff { worst = (key, d) }
        }
        print("[forward] \(model) \(prompt): \(compared) intermediates compared, worst \(worst.key) \(worst.diff)")
        // The text layers, final norm and rope tables must all have been checked; image runs add the vision tower.
        let layers = try model.config().text.numLayers
        #expect(compared >= 4 * layers + 4)
        if prompt == "image" {
            let v = try model.config().vision!
            for key in ["vision.pos_embeds", "vision.blocks_input", "vision.rope_cos", "vision.merger_output",
                        "vision.block\(v.depth - 1).output", "vision.deepstack\(v.deepstackVisualIndexes.count - 1).output", "position_ids"] {
                #expect(trace[key] != nil && ref.has("image.\(key)"), "\(key) not compared")
            }
        }
    }

    /// The built-in image processor on the oracle's raw test image gives transformers' pixel_values.
    @Test func imagePatchesMatchTheProcessor() throws {
        let ref = try TinyModel.moe.reference()
        let hwc = try ref.floats("image.uint8_hwc").map { UInt8($0) }
        let shape = try ref.shape("image.uint8_hwc")
        let (pixels, grid) = try ImagePatches.fromHWC(hwc, height: shape[0], width: shape[1], vision: try TinyModel.moe.config().vision!)
        #expect(grid == (try ref.floats("image.image_grid_thw")).map { Int($0) })
        let d = maxAbsDiff(pixels, try ref.floats("image.pixel_values"))
        #expect(d <= 1e-6, "pixel_values differ by \(d)")
    }
}
