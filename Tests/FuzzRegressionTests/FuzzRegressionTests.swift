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
