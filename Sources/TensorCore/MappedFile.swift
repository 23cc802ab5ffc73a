#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory. Tensors are read straight out of the mapping, so
/// describing a tensor never copies it and reading one touches only its pages.
///
/// The mapping lives as long as this object; every view into it keeps a strong reference.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    /// The first byte of the mapping (nil for an empty file, which cannot be mapped).
    public let base: UnsafeRawPointer?
    /// The open file, kept for positional reads (`read(into:at:count:)`).
    public let descriptor: Int32

    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO (or a device) named as a file returns at once instead of waiting for a
        // writer; fstat then refuses it. It changes nothing for regular files.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        descriptor = fd
        guard fd >= 0 else { throw TensorCoreError.systemCall("open", "cannot open file", file: path) }
        var mapped = false
        defer { if !mapped { close(fd) } }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw TensorCoreError.systemCall("fstat", "cannot stat file", file: path)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw TensorCoreError(.io, "not a regular file (\(Self.kind(st.st_mode)))", file: path, hint: "pass a file, not a folder, FIFO or device")
        }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            mapped = true
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw TensorCoreError.systemCall("mmap", "cannot map file", file: path)
        }
        base = UnsafeRawPointer(p)
        mapped = true
    }

    /// What a non-regular file is, for the error.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a plain file"
        }
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        close(descriptor)
    }

    /// The file offset of a pointer into the mapping, nil when it points elsewhere.
    public func offset(of pointer: UnsafeRawPointer) -> Int? {
        guard let base, pointer >= base, pointer < base + size else { return nil }
        return pointer - base
    }

    /// Copies `count` bytes at file offset `offset` into `dest` with positional reads. Streaming a byte range
    /// through a small reused buffer this way is cheaper than touching the mapping's cold 4 KB pages.
    public func read(into dest: UnsafeMutableRawPointer, at offset: Int, count: Int) throws {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw TensorCoreError(.io, "read of \(count) bytes reaches past the end of the \(size)-byte file", file: path, byteOffset: offset)
        }
        var done = 0
        while done < count {
            let n = pread(descriptor, dest + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorCoreError.systemCall("pread", "read failed", file: path, byteOffset: offset + done)
            }
            if n == 0 { throw TensorCoreError(.io, "file ended early", file: path, byteOffset: offset + done) }
            done += n
        }
    }

    /// The bytes `[offset, offset+count)`, after checking they lie inside the file.
    public func bytes(at offset: Int, count: Int, key: String? = nil) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw TensorCoreError(.io, "range of \(count) bytes reaches past the end of the \(size)-byte file",
                                  file: path, key: key, byteOffset: offset,
                                  hint: "the file is truncated or its header is corrupt")
        }
        guard count > 0, let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    /// Drops this process's mapping of the pages spanning `[start, start+count)` (the file's pages stay in
    /// the page cache, and a later read maps them again). Conversions read each source byte about once, so
    /// releasing pages after use keeps resident memory at the size of the slabs in flight, not the model.
    public static func releasePages(_ start: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        let page = pageSize
        let lo = Int(bitPattern: start) / page * page
        let hi = (Int(bitPattern: start) + count + page - 1) / page * page
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, MADV_DONTNEED)
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Tells the kernel we are about to read this range sequentially (a hint; failures are ignored).
    public func adviseSequential(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), count + (offset - start), MADV_WILLNEED)
    }
}
