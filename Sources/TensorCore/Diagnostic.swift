/// What every error of this project can say about itself, so that the CLI prints one clear line and a
/// hint whatever module raised it. Each module has its own concrete error type (one per module) that
/// conforms; the context fields are filled where they are known.
public protocol DiagnosticError: Error, CustomStringConvertible {
    /// One sentence saying what is wrong.
    var summary: String { get }
    /// The file the problem was found in, when there is one.
    var file: String? { get }
    /// The tensor or record key concerned, when there is one.
    var key: String? { get }
    /// The byte offset in `file`, when the problem is at a known place.
    var byteOffset: Int? { get }
    /// How to fix it.
    var hint: String? { get }
    /// The lower-level error that caused this one, if any.
    var underlying: Error? { get }
}

extension DiagnosticError {
    public var underlying: Error? { nil }

    /// `summary (file, key, at byte N)`: the one line the CLI prints.
    public var oneLine: String {
        var where_ = [String]()
        if let file { where_.append(file) }
        if let key { where_.append("key '\(key)'") }
        if let byteOffset { where_.append("at byte \(byteOffset)") }
        return where_.isEmpty ? summary : "\(summary) (\(where_.joined(separator: ", ")))"
    }

    public var description: String {
        var s = oneLine
        if let hint { s += "\n  hint: \(hint)" }
        return s
    }

    /// The chain of causes, outermost first.
    public var causeChain: [String] {
        var out = [String]()
        var next = underlying
        while let e = next {
            if let d = e as? DiagnosticError { out.append(d.oneLine); next = d.underlying } else { out.append(String(describing: e)); next = nil }
        }
        return out
    }
}

/// The codes of one module's errors.
public protocol ErrorCode: Hashable, Sendable {}

/// The shape every module's error type shares: a code from the module's own enum, one sentence, and the
/// file, key, byte offset, hint and cause where known. Each module declares its type as
/// `typealias XError = ModuleError<XErrorCode>`, so errors stay distinct per module while the fields and
/// the printing live once.
public struct ModuleError<C: ErrorCode>: DiagnosticError {
    /// The module's code enum.
    public typealias Code = C

    public var code: Code
    public var summary: String
    public var file: String?
    public var key: String?
    public var byteOffset: Int?
    public var hint: String?
    public var underlying: Error?

    public init(_ code: Code, _ summary: String, file: String? = nil, key: String? = nil, byteOffset: Int? = nil,
                hint: String? = nil, underlying: Error? = nil) {
        self.code = code
        self.summary = summary
        self.file = file
        self.key = key
        self.byteOffset = byteOffset
        self.hint = hint
        self.underlying = underlying
    }

    /// The same error with missing context filled in (inner layers know offsets, outer layers know files and keys).
    public func with(file: String? = nil, key: String? = nil, byteOffset: Int? = nil) -> Self {
        var e = self
        if e.file == nil { e.file = file }
        if e.key == nil { e.key = key }
        if e.byteOffset == nil { e.byteOffset = byteOffset }
        return e
    }
}

/// The codes of TensorCore errors: I/O, JSON and copy failures, and a write stopped by its progress observer.
public enum TensorCoreErrorCode: String, ErrorCode {
    case io, json, shape, dtype, checksum, compression, cancelled
}

/// The error type of the TensorCore module.
public typealias TensorCoreError = ModuleError<TensorCoreErrorCode>
