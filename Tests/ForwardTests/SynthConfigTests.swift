import Bridge
import Forward
import TensorCore
import Synth
import TestSupport
import Testing

/// The configs `ckpt-bridge synth` writes are read by the forward pass's own config parser (independent
/// of the converter's) as the real models: N text layers, fewer than the DeepStack levels included.
@Suite struct SynthConfigTests {
    @Test(arguments: SynthPreset.allCases)
    func forwardParsesSynthConfigs(preset: SynthPreset) throws {
        for layers in [1, 2, 4] {
            let s = try SyntheticCheckpoint(options: .init(preset: preset, layers: layers),
                                            mappings: FileSystem.join(Fixtures.repoRoot, "Mappings"))
            let c = try ModelConfig(json: s.config)
            #expect(c.text.numLayers == layers)
            #expect(c.text.vocabSize == 151936 && c.text.headDim == 128)
            #expect(c.text.ropeTheta == 5_000_000 && c.text.mropeSection == [24, 20, 20])
            #expect(!c.tieWordEmbeddings)
            let v = try #require(c.vision)
            #expect(v.depth == 27 && v.hiddenSize == 1152 && v.deepstackVisualIndexes == [8, 16, 24])
            #expect(v.outHiddenSize == c.text.hiddenSize && v.blockActivation == .tanh)
            switch preset {
            case .qwen3VL30BA3B:
                let moe = try #require(c.text.moe)
                #expect(moe.numExperts == 128 && moe.topK == 8 && moe.intermediateSize == 768 && moe.normTopKProb)
                #expect(c.text.hiddenSize == 2048 && c.text.numKVHeads == 4 && c.text.numHeads == 32)
                #expect((0..<layers).allSatisfy { c.text.isSparse(layer: $0) })
            case .qwen3VL235BA22B:
                let moe = try #require(c.text.moe)
                #expect(moe.numExperts == 128 && moe.topK == 8 && moe.intermediateSize == 1536 && moe.normTopKProb)
                #expect(c.text.hiddenSize == 4096 && c.text.numKVHeads == 4 && c.text.numHeads == 64)
                #expect((0..<layers).allSatisfy { c.text.isSparse(layer: $0) })
            case .qwen3VL8B:
                #expect(c.text.moe == nil && c.text.intermediateSize == 12288)
                #expect(c.text.hiddenSize == 4096 && c.text.numKVHeads == 8 && c.text.numHeads == 32)
            }
        }
    }
}
