import TensorCore

/// The error type of the Bridge module: bad requests, configs and mapping tables, unaccounted keys,
/// shape mismatches and layout problems. Each names the file, key and offset where known, and a fix.
public struct BridgeError: DiagnosticError {
    public enum Code: String, Sendable {
        /// A path that is not a checkpoint this tool can read.
        case unknownFormat
        /// A config.json (or Megatron args) that lacks a field or holds a bad value.
        case config
        /// A mapping table that is malformed.
        case mappingTable
        /// Source tensors that no mapping entry consumed.
        case unusedKeys
        /// Target tensors that no source fills.
        case missingKeys
        /// A tensor whose shape disagrees with the config.
        case shape
        /// A parallel layout that cannot be built (TP does not divide the query groups, ...).
        case layout
        /// An HF expert layout that is ambiguous or mixed.
        case expertLayout
        /// A bad command-line request.
        case request
        /// Two checkpoints differ (diff, verify).
        case mismatch
    }

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
}
