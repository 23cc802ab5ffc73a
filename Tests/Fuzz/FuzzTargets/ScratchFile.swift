import Foundation
import TensorCore

/// A private folder for the harnesses whose parser reads a path: each input is written to one file
/// there (overwritten per input), so the path-based entry points the CLI uses are the ones fuzzed.
final class ScratchFolder: @unchecked Sendable {
    static let shared = ScratchFolder()

    let path: String

    private init() {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        path = FileSystem.join(base, "ckpt-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // Mapping tables include fragments by a relative path; the fuzzed table sees the real ones.
        let fragments = FileSystem.join(path, "fragments")
        if !FileSystem.exists(fragments) {
            try? FileManager.default.createSymbolicLink(atPath: fragments,
                                                        withDestinationPath: FileSystem.join(FuzzPaths.mappings, "fragments"))
        }
        // Left for the next run to reuse; a shell trap removes it (scripts/fuzz.sh).
    }

    /// Writes `bytes` to `name` in the folder (replacing it) and returns the file's path.
    func write(_ bytes: UnsafeRawBufferPointer, as name: String) -> String {
        let p = FileSystem.join(path, name)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "fuzz: cannot create \(p): errno \(errno)")
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "fuzz: cannot write \(p): errno \(errno)")
            done += n
        }
        close(fd)
        return p
    }
}

/// Paths the harnesses need from the repository.
enum FuzzPaths {
    /// The repository's `Fixtures` folder (`$CKPT_BRIDGE_FIXTURES`, else beside the mapping tables).
    static let fixtures: String = ProcessInfo.processInfo.environment["CKPT_BRIDGE_FIXTURES"]
        ?? FileSystem.join(FileSystem.dirname(mappings), "Fixtures")

    /// The bundled mapping tables (`$CKPT_BRIDGE_MAPPINGS`, else found as the CLI finds them).
    static let mappings: String = {
        if let env = ProcessInfo.processInfo.environment["CKPT_BRIDGE_MAPPINGS"] { return env }
        var dir = FileSystem.dirname(#filePath)
        for _ in 0..<4 {
            dir = FileSystem.dirname(dir)
            let m = FileSystem.join(dir, "Mappings")
            if FileSystem.isFile(FileSystem.join(m, "qwen3.yaml")) { return m }
        }
        return "Mappings"
    }()
}
