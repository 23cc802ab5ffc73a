import Foundation
import Forward
import ImageCodecs
import TensorCore
import TestSupport
import Testing

/// Decoding and the image processor against Fixtures/images (made by transformers' Qwen2VLImageProcessorPil
/// given each file's path, scripts/oracle/make_image_fixtures.py): the RGB bytes it sees, and pixel_values and grids.
@Suite struct ImageProcessorTests {
    static let names = ["photo.jpg", "alpha.png", "palette.png", "gray.jpg", "rotated.jpg"]

    func reference() throws -> Reference { try Reference(path: try Fixtures.path("images/reference.safetensors")) }

    func processor(_ config: ImageProcessorConfig? = nil) throws -> ImageProcessor {
        let cfg = try config ?? ImageProcessorConfig(path: try TinyModel.dense.path("hf/preprocessor_config.json"))
        return try ImageProcessor(config: cfg, vision: try TinyModel.dense.config().vision!)
    }

    @Test(arguments: names) func decodesWhatPILSees(name: String) throws {
        let ref = try reference()
        let key = String(name.split(separator: ".")[0])
        let image = try ImageDecoder.decode(path: try Fixtures.path("images/\(name)"))
        let shape = try ref.shape("\(key).rgb")
        #expect([image.height, image.width, 3] == shape)
        // JPEG: the system libjpeg-turbo and Pillow's bundled one use the same integer IDCT and upsampling.
        let expected = try ref.floats("\(key).rgb")
        let decoded = image.pixels.map { Float($0) }
        #expect(decoded == expected)
    }

    @Test(arguments: names) func processesLikeTransformers(name: String) throws {
        let ref = try reference()
        let key = String(name.split(separator: ".")[0])
        let image = try ImageDecoder.decode(path: try Fixtures.path("images/\(name)"))
        var small = try processor().config
        small.minPixels = 4096
        small.maxPixels = 20000
        for (prefix, proc) in [(key, try processor()), (key + ".small", try processor(small))] {
            let (pixels, grid) = try proc.process(rgb: image.pixels, height: image.height, width: image.width)
            let expectedGrid = try ref.floats("\(prefix).image_grid_thw").map { Int($0) }
            #expect(grid == expectedGrid, "\(prefix)")
            let expected = try ref.floats("\(prefix).pixel_values")
            #expect(pixels.count == expected.count, "\(prefix)")
            if pixels.count == expected.count { #expect(maxAbsDiff(pixels, expected) == 0, "\(prefix)") }
        }
    }

    @Test func placeholdersExpandOnePadPerImage() throws {
        let config = try TinyModel.dense.config()
        let image = try ImageDecoder.decode(path: try Fixtures.path("images/photo.jpg"))
        let processed = try processor().process(rgb: image.pixels, height: image.height, width: image.width)
        let tokens = processed.gridTHW.reduce(1, *) / 4
        let (vs, pad, ve) = (config.visionStartTokenId, config.imageTokenId, config.visionEndTokenId)
        let block: [Int] = [vs] + [Int](repeating: pad, count: tokens) + [ve]
        let inPlace = try ImageInput.combine(ids: [1, vs, pad, ve, 2], images: [processed], config: config)
        let expectedInPlace: [Int] = [1] + block + [2]
        #expect(inPlace.inputIds == expectedInPlace)
        let prepended = try ImageInput.combine(ids: [1, 2], images: [processed, processed], config: config)
        let expectedPrepended: [Int] = block + block + [1, 2]
        #expect(prepended.inputIds == expectedPrepended)
        let rows = prepended.pixelValues?.count ?? 0
        #expect(rows == 2 * processed.pixelValues.count)
        #expect(prepended.imageGridTHW.count == 2)
        #expect(throws: ForwardError.self) { try ImageInput.combine(ids: [pad, pad], images: [processed], config: config) }
    }

    /// Every cut of a real file is refused with a typed error (never a crash, never a silently short image).
    @Test(arguments: names) func truncatedFilesAreTypedErrors(name: String) throws {
        let path = try Fixtures.path("images/\(name)")
        let bytes = try readWholeFile(path)
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 37)) {
            #expect(throws: ImageError.self) {
                _ = try Array(bytes[0..<cut]).withUnsafeBytes { try ImageDecoder.decode($0) }
            }
        }
    }

    @Test func oversizedImagesAreRefusedBeforeDecoding() throws {
        let path = try Fixtures.path("images/photo.jpg")
        do {
            _ = try ImageDecoder.decode(path: path, maxPixels: 1000)
            Issue.record("a 75×130 image passed a 1000-pixel limit")
        } catch let e as ImageError {
            #expect(e.code == .tooLarge && e.file == path)
        }
    }

    @Test func preprocessorConfigsThatDoNotFitAreRefused() throws {
        let vision = try TinyModel.dense.config().vision!
        for bad in [#"{"patch_size": 14}"#, #"{"resample": 2}"#, #"{"image_mean": [0.5, 0.5]}"#, #"{"size": {"shortest_edge": 10, "longest_edge": 5}}"#,
                    #"{"do_convert_rgb": false}"#, #"{"merge_size": "2"}"#] {
            #expect(throws: ForwardError.self, "\(bad)") {
                var json = try JSONParser.parse(try String(contentsOfFile: try TinyModel.dense.path("hf/preprocessor_config.json"), encoding: .utf8))
                guard case var .object(members) = json, case let .object(extra) = try JSONParser.parse(bad) else { return }
                for (k, v) in extra { members.removeAll { $0.0 == k }; members.append((k, v)) }
                json = .object(members)
                _ = try ImageProcessor(config: try ImageProcessorConfig(json: json), vision: vision)
            }
        }
    }
}
