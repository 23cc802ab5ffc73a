import TensorCore

/// The codes of Bridge errors: bad requests, configs and mapping tables, unaccounted keys,
/// shape mismatches and layout problems. Each names the file, key and offset where known, and a fix.
public enum BridgeErrorCode: String, ErrorCode {
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
    /// `check` found a problem in a checkpoint.
    case check
    /// A split conversion's staging area that is incomplete, damaged or disagrees with itself (`finalize`).
    case cluster
    /// A lower module's error (TensorCore I/O, SafeTensors, TorchFormats, ...) met while Bridge did the step
    /// the summary names. The error is in `underlying`, whose module and code classify the failure (the C ABI
    /// and Python report those); the wrapper only adds what Bridge was doing. See `BridgeError.during`.
    case lowerLayer
}

/// The error type of the Bridge module.
public typealias BridgeError = ModuleError<BridgeErrorCode>
