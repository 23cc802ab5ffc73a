import Foundation
import Testing
import TensorCore
import TestSupport
import Bridge
import TorchFormats
@testable import CkptBridgeCLI

/// `--iteration N`: one training root holding two saves of different models (the tracker names the dense
/// one, iter_0000005 is the MoE one), so reading the wrong folder cannot pass.
@Suite struct IterationOptionTests {
    /// (root, other, MoE HF): root/release is the dense import (the tracker's), root/iter_0000005 a copy of
    /// the MoE import `other` (whose tracker names 5).
    static func makeRoot(_ name: String) throws -> (String, String, String) {
        let dense = try Fixtures.path("qwen3_vl_dense_tiny/hf"), moe = try Fixtures.path("qwen3_vl_moe_tiny/hf")
        let dir = Fixtures.scratch(name)
        let root = FileSystem.join(dir, "run"), other = FileSystem.join(dir, "other")
        #expect(exitStatus(["import", dense, root, "--quiet"]) == 0)
        #expect(exitStatus(["import", moe, other, "--iteration", "5", "--quiet"]) == 0)
        try FileManager.default.copyItem(atPath: FileSystem.join(other, "iter_0000005"), toPath: FileSystem.join(root, "iter_0000005"))
        return (root, other, moe)
    }

    @Test func iterationPicksTheFolderNotTheTracker() throws {
        let (root, other, moe) = try Self.makeRoot("iteration-pick")
        defer { FileSystem.remove(FileSystem.dirname(root)) }
        #expect(try MegatronCheckpoint.select(root, iteration: .number(5)) == FileSystem.join(root, "iter_0000005"))
        #expect(try MegatronCheckpoint.select(root, iteration: nil) == root)
        #expect(try MegatronCheckpoint.iterationsPresent(root: root) == [.release, .number(5)])
        // Through the CLI: the tracker gives the dense model, --iteration 5 the MoE one, on every reader.
        // (diff applies --iteration to both roots; `other` holds only iteration 5.)
        #expect(exitStatus(["diff", other, root]) == 1)
        #expect(exitStatus(["diff", other, root, "--iteration", "5"]) == 0)
        #expect(exitStatus(["inspect", root, "--iteration", "release"]) == 0)
        let out = FileSystem.join(FileSystem.dirname(root), "hf5"), want = FileSystem.join(FileSystem.dirname(root), "hf-other")
        #expect(exitStatus(["export", root, out, "--iteration", "5", "--quiet"]) == 0)
        #expect(exitStatus(["export", other, want, "--quiet"]) == 0)
        #expect(exitStatus(["diff", want, out]) == 0)
        #expect(exitStatus(["verify", moe, root, "--iteration", "5"]) == 0)
    }

    @Test func missingIterationIsATypedErrorListingThosePresent() throws {
        let (root, _, _) = try Self.makeRoot("iteration-missing")
        defer { FileSystem.remove(FileSystem.dirname(root)) }
        do {
            _ = try MegatronCheckpoint.select(root, iteration: .number(7))
            Issue.record("iteration 7 was found")
        } catch let e as BridgeError {
            #expect(e.code == .request)
            #expect(e.summary.contains("present: release, iter_0000005") && e.summary.contains("the tracker names release"), "\(e.summary)")
            #expect(e.file == root)
        }
        #expect(exitStatus(["inspect", root, "--iteration", "7"]) == 2)
        #expect(exitStatus(["export", root, FileSystem.join(root, "x"), "--iteration", "7"]) == 2)
        #expect(!FileSystem.exists(FileSystem.join(root, "x")))
        // An iteration folder given with another iteration is a mistake, not a silent pick.
        #expect(exitStatus(["inspect", FileSystem.join(root, "iter_0000005"), "--iteration", "3"]) == 2)
        #expect(exitStatus(["inspect", FileSystem.join(root, "iter_0000005"), "--iteration", "5"]) == 0)
    }
}
