import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file being written with positional writes. Every byte's place is planned before writing starts,
/// so many threads can write one file at once without a shared cursor.
public final class OutputFile: @unchecked Sendable {
    public let path: String
    /// The planned size (nil when not given at creation).
    public let plannedSize: Int?
    private let fd: Int32
    /// Hears the range of every write once its bytes are in the file (set before writing starts;
    /// `StreamingFileDigests.follow` sets it).
    var onWritten: ((_ offset: Int, _ count: Int) -> Void)?
    /// One pwrite at a time. The kernel serialises buffered writes to one file anyway (ext4 holds the
    /// inode lock for the whole copy), and a thread waiting for it spins on the CPU; waiting here sleeps,
    /// which leaves the core to a thread with work (a gather, the integrity hash).
    private let writeLock = NSLock()

    /// Creates (or truncates) `path` and sizes it to `size` bytes.
    public init(creating path: String, size: Int? = nil) throws {
        self.path = path
        plannedSize = size
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TensorCoreError.systemCall("open", "cannot create file", file: path) }
        if let size, size > 0, ftruncate(fd, off_t(size)) != 0 {
            let e = TensorCoreError.systemCall("ftruncate", "cannot size file to \(size) bytes", file: path)
            close(fd)
            throw e
        }
    }

    deinit { close(fd) }

    /// Writes all of `bytes` at `offset`, retrying after interrupts and short writes.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        FaultInjection.beforeWrite()
        writeLock.lock()
        defer { writeLock.unlock() }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorCoreError.systemCall("pwrite", "write failed", file: path, byteOffset: offset + done)
            }
            if n == 0 {
                throw TensorCoreError(.io, "write made no progress", file: path, byteOffset: offset + done)
            }
            done += n
        }
        onWritten?(offset, bytes.count)
    }

    public func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Flushes the file's data to disk (called before the output folder is renamed into place).
    public func sync() throws {
        if fsync(fd) != 0 {
            throw TensorCoreError.systemCall("fsync", "cannot flush the file to disk", file: path)
        }
    }
}

/// Reads a whole (small) file into memory: configs, indexes, trackers.
public func readWholeFile(_ path: String) throws -> [UInt8] {
    let f = try MappedFile(path: path)
    let b = try f.bytes(at: 0, count: f.size)
    return Array(b)
}

/// Writes a small file in one go (within an output folder that is renamed into place later).
public func writeWholeFile(_ path: String, _ bytes: [UInt8]) throws {
    let f = try OutputFile(creating: path)
    try f.write(bytes, at: 0)
    try f.sync()
}
