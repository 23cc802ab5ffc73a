import FuzzTargets
import Foundation
import TensorCore
import TestSupport
import XCTest

/// Replays every input libFuzzer once crashed on (`Tests/Fuzz/Regressions/<harness>/`) through the same
/// harness body; each must now end in success or a typed error. A regression traps this test process.
final class FuzzRegressionTests: XCTestCase {
    static let root = FileSystem.join(Fixtures.repoRoot, "Tests", "Fuzz", "Regressions")

    func testEveryRegressionFolderNamesAHarness() throws {
        for name in try FileSystem.list(Self.root) where FileSystem.isDirectory(FileSystem.join(Self.root, name)) {
            XCTAssertNotNil(FuzzTargets.named(name), "Regressions/\(name) is not a harness")
        }
    }

    func testCrashInputsNoLongerCrash() throws {
        var replayed = 0
        for target in FuzzTargets.all {
            let dir = FileSystem.join(Self.root, target.name)
            guard FileSystem.isDirectory(dir) else { continue }
            for file in try FileSystem.list(dir).sorted() where !file.hasPrefix(".") && !file.hasSuffix(".md") {
                target.run(try readWholeFile(FileSystem.join(dir, file)))
                replayed += 1
            }
        }
        print("replayed \(replayed) fuzz regression inputs")
    }

    /// Every harness accepts an empty input and a few bytes of garbage without trapping (the harness
    /// plumbing itself: scratch files, mapping tables, typed-error checks).
    func testHarnessesRefuseGarbage() {
        for target in FuzzTargets.all {
            target.run([])
            target.run(Array("\u{0}\u{ff}not a valid input".utf8))
        }
    }
}

/// The harnesses accept the upstream files they are seeded with, so their properties (round trips, views
/// inside storages) hold on real data and the fuzzer starts from inputs that parse.
final class FuzzHarnessSeedTests: XCTestCase {
    func testUpstreamFilesPassEveryHarness() throws {
        let cases: [(String, String)] = [
            ("config", "qwen3_vl_moe_tiny/hf/config.json"), ("config", "qwen3_vl_dense_tiny/hf_bf16/config.json"),
            ("json", "qwen3_vl_moe_tiny/hf/preprocessor_config.json"),
            ("safetensors-header", "lora/tp1_mb_adapter.safetensors"),
            ("run-config", "lora/tp1_adapter/iter_0000000/run_config.yaml"),
            ("dcp-metadata", "lora/tp2_adapter/iter_0000000/.metadata"), ("pickle", "lora/tp2_adapter/iter_0000000/.metadata"),
            ("zip", "lora/tp1_adapter/iter_0000000/common.pt"), ("torch-save", "lora/tp1_adapter/iter_0000000/common.pt"),
            ("torch-save", "lora/tp1_adapter/iter_0000000/train_state.pt"),
            ("image", "images/photo.jpg"), ("image", "images/alpha.png"), ("image", "images/palette.png"), ("image", "images/gray.jpg"),
            ("tokenizer-file", "tokenizer/tokenizer.json"),
        ]
        for (name, relative) in cases {
            let target = try XCTUnwrap(FuzzTargets.named(name))
            let bytes = try readWholeFile(FileSystem.join(Fixtures.directory, relative))
            XCTAssertNoThrow(try target.check(bytes), "\(name) refuses \(relative)")
        }
        // The tokenizer round-trip property holds on every string tokenizers' own cases were made from.
        let encode = try XCTUnwrap(FuzzTargets.named("tokenizer-encode"))
        let tokenizerCases = try JSONParser.parse(try readWholeFile(FileSystem.join(Fixtures.directory, "tokenizer", "cases.json")))
        let texts = try XCTUnwrap(tokenizerCases["encode"]?.arrayValue).compactMap { $0["text"]?.stringValue }
        XCTAssertGreaterThan(texts.count, 1000)
        for text in texts {
            XCTAssertNoThrow(try encode.check(Array(text.utf8)), "tokenizer-encode refuses \(text.debugDescription)")
        }
        let table = try XCTUnwrap(FuzzTargets.named("yaml-table"))
        XCTAssertNoThrow(try table.check(try readWholeFile(FileSystem.join(Fixtures.repoRoot, "Mappings", "qwen3_vl_moe.yaml"))))
    }
}

/// What each fixed crash is now refused with (the replay above only proves it no longer traps).
final class FuzzFindingTests: XCTestCase {
    private func refusal(_ harness: String, _ file: String) throws -> DiagnosticError {
        let target = try XCTUnwrap(FuzzTargets.named(harness))
        let bytes = try readWholeFile(FileSystem.join(FuzzRegressionTests.root, harness, file))
        do { try target.check(bytes) } catch let e as DiagnosticError { return e }
        XCTFail("\(harness)/\(file) was accepted")
        throw Accepted()
    }

    private struct Accepted: Error {}

    /// Yams' constructor force-unwraps a mapping key as a string: `{[a]: 1}` trapped `export`/`forward`.
    func testRunConfigNonScalarKeysAreRefused() throws {
        for file in ["sequence-as-mapping-key.yaml", "mapping-as-mapping-key.yaml"] {
            let e = try refusal("run-config", file)
            XCTAssertTrue(e.summary.contains("as a mapping key at line"), e.oneLine)
            XCTAssertTrue(e.file?.hasSuffix("run_config.yaml") ?? false, e.oneLine)
        }
    }

    /// A 127-byte PNG whose iTXt chunk declares 0x7F000015 bytes made libpng allocate 2 GB before finding
    /// the data missing (`forward --image`; the fuzzer's RSS limit caught it). Chunk lengths are now checked
    /// against the file's size before libpng reads it.
    func testPNGChunkLongerThanTheFileIsRefusedBeforeAllocating() throws {
        let e = try refusal("image", "itxt-declares-2gb.png")
        XCTAssertTrue(e.summary.contains("chunk 'iTXt' at byte 33 declares 2130706453 data bytes, but only 86 bytes follow"), e.oneLine)
    }
}
