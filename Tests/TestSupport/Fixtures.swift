import Foundation
import TensorCore

/// The oracle fixtures (made by transformers, Megatron-Bridge and megatron-core; see Fixtures/README.md).
///
/// The transformers checkpoints used by the demo sit plainly under `Fixtures/`; everything else is in
/// `Fixtures/oracle.tar.zst` and is unpacked once, on first use, into `Fixtures/.cache/oracle`.
public enum Fixtures {
    /// The repository root, found from this file's location.
    public static let repoRoot: String = {
        var dir = FileSystem.dirname(#filePath)
        while !FileSystem.isFile(FileSystem.join(dir, "Package.swift")) && dir != "/" { dir = FileSystem.dirname(dir) }
        return dir
    }()

    public static let directory = FileSystem.join(repoRoot, "Fixtures")
    private static let cache = FileSystem.join(directory, ".cache", "oracle")
    private static let lock = NSLock()
    nonisolated(unsafe) private static var unpacked = false

    /// The path of a fixture file or folder, relative to the fixture tree (`qwen3_vl_moe_tiny/hf`).
    public static func path(_ relative: String) throws -> String {
        let plain = FileSystem.join(directory, relative)
        if FileSystem.exists(plain) { return plain }
        try unpackArchive()
        let p = FileSystem.join(cache, relative)
        guard FileSystem.exists(p) else {
            throw TensorCoreError(.io, "fixture not found", file: relative, hint: "see Fixtures/README.md")
        }
        return p
    }

    /// Unpacks the archive once per machine (a stamp file marks a complete unpack; a partial one is redone).
    public static func unpackArchive() throws {
        lock.lock()
        defer { lock.unlock() }
        if unpacked { return }
        let archive = FileSystem.join(directory, "oracle.tar.zst")
        let stamp = FileSystem.join(cache, ".complete")
        let archiveSize = FileSystem.fileSize(archive) ?? -1
        if let s = try? String(contentsOfFile: stamp, encoding: .utf8), s == "\(archiveSize)" {
            unpacked = true
            return
        }
        let tmp = cache + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        FileSystem.remove(tmp)
        let mapped = try MappedFile(path: archive)
        let tar = try ZstdDecoder.decompress(try mapped.bytes(at: 0, count: mapped.size))
        try TarReader.extract(tar, into: tmp)
        try writeWholeFile(FileSystem.join(tmp, ".complete"), Array("\(archiveSize)".utf8))
        FileSystem.remove(cache)
        try FileSystem.makeDirectory(FileSystem.dirname(cache))
        if rename(tmp, cache) != 0 {
            // Another process won the race; use its copy.
            FileSystem.remove(tmp)
        }
        unpacked = true
    }

    /// A fresh scratch folder under the system temp folder, removed by the caller with `FileSystem.remove`.
    public static func scratch(_ name: String = "t") -> String {
        let p = FileSystem.join(NSTemporaryDirectory(), "ckpt-bridge-tests", "\(name)-\(UUID().uuidString)")
        try? FileSystem.makeDirectory(p)
        return p
    }
}
