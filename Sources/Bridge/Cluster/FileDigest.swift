import Foundation
import TensorCore

/// XXH3-64 of whole files, read back with positional reads (the shares' checksums, and their check).
enum FileDigest {
    static let step = 4 << 20

    /// The digest (16 hex digits) and size of the file at `path`. Symbolic links and non-regular files are refused.
    static func xxh3(_ path: String) throws -> (size: Int, hex: String) {
        guard !FileSystem.isSymbolicLink(path) else {
            throw TensorCoreError(.io, "is a symbolic link, not a file a node wrote", file: path)
        }
        let f = try MappedFile(path: path)
        let h = XXH3Hasher()
        var buffer = [UInt8](repeating: 0, count: Swift.min(step, Swift.max(1, f.size)))
        var done = 0
        while done < f.size {
            let n = Swift.min(step, f.size - done)
            try buffer.withUnsafeMutableBytes { b in
                try f.read(into: b.baseAddress!, at: done, count: n)
                h.update(UnsafeRawBufferPointer(start: b.baseAddress, count: n))
            }
            done += n
        }
        return (f.size, XXH3Hasher.hex(h.digest))
    }

    /// The digests of many files on `jobs` threads, in order; a file that cannot be read gives its error.
    static func xxh3(_ paths: [String], jobs: Int) -> [Result<(size: Int, hex: String), Error>] {
        var out = [Result<(size: Int, hex: String), Error>?](repeating: nil, count: paths.count)
        let lock = NSLock()
        var next = 0
        DispatchQueue.concurrentPerform(iterations: Swift.max(1, Swift.min(jobs, paths.count))) { _ in
            while true {
                lock.lock()
                let i = next
                next += 1
                lock.unlock()
                if i >= paths.count { return }
                let r = Result { try xxh3(paths[i]) }
                lock.lock(); out[i] = r; lock.unlock()
            }
        }
        return out.map { $0! }
    }
}
