#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ModuleError where C == TensorCoreErrorCode {
    /// An I/O failure of a system call, in the manner of swift-system's `Errno`: the call, the errno's
    /// symbolic name and text, and a hint chosen by the cause, so a full disk, a failing disk and a
    /// permission problem read differently.
    public static func systemCall(_ call: String, _ what: String, file: String?, byteOffset: Int? = nil,
                                  errno code: Int32 = errno) -> TensorCoreError {
        let text = String(cString: strerror(code))
        return TensorCoreError(.io, "\(what): \(call)() failed with \(errnoName(code)) (\(text))", file: file,
                               byteOffset: byteOffset, hint: errnoHint(code))
    }

    /// `ENOSPC`, `EIO`, …; `errno N` for codes without a name here.
    public static func errnoName(_ code: Int32) -> String {
        switch code {
        case ENOSPC: return "ENOSPC"
        case EDQUOT: return "EDQUOT"
        case EFBIG: return "EFBIG"
        case EIO: return "EIO"
        case EACCES: return "EACCES"
        case EPERM: return "EPERM"
        case EROFS: return "EROFS"
        case ENOENT: return "ENOENT"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EEXIST: return "EEXIST"
        case EXDEV: return "EXDEV"
        case EMFILE: return "EMFILE"
        case ENFILE: return "ENFILE"
        case ENOMEM: return "ENOMEM"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case ELOOP: return "ELOOP"
        case ENOTEMPTY: return "ENOTEMPTY"
        case EINVAL: return "EINVAL"
        default: return "errno \(code)"
        }
    }

    /// What to do about it.
    public static func errnoHint(_ code: Int32) -> String? {
        switch code {
        case ENOSPC: return "the disk is full: free space or write the output to another disk"
        case EDQUOT: return "the disk quota is exhausted: free space or write elsewhere"
        case EFBIG: return "the file grew past a size limit (ulimit -f, or the file system's maximum file size)"
        case EIO: return "the device reported an I/O error: the disk or network file system is failing (see dmesg); nothing was finished"
        case EACCES, EPERM: return "no permission: check the owner and mode of the path and its parent folders"
        case EROFS: return "the file system is mounted read-only: write the output elsewhere"
        case ENOENT: return "check that the path exists"
        case ENOTDIR: return "a component of the path is a file, not a folder"
        case EISDIR: return "the path is a folder; a file was expected"
        case EMFILE, ENFILE: return "too many open files: raise the limit (ulimit -n) or lower --jobs"
        case ENOMEM: return "out of memory: lower --memory or --jobs"
        case ENAMETOOLONG: return "the path is too long"
        case ELOOP: return "the path has a symbolic-link loop"
        default: return nil
        }
    }
}
