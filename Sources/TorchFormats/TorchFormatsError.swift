import TensorCore

/// The codes of TorchFormats errors, the single error type of the module: everything that can be wrong with a pickle, a
/// torch.save zip, a Megatron-Core torch_dist folder or a legacy `mp_rank_*` checkpoint, and every
/// misuse of the writers. Each error names the file, the key and the byte offset where they are known.
public enum TorchFormatsErrorCode: String, ErrorCode {
    /// The pickle stream ends before its STOP opcode or inside an argument.
    case pickleTruncated
    /// A malformed pickle: unknown opcode, stack underflow, bad argument, wrong types.
    case pickleInvalid
    /// A GLOBAL that is not on the allowlist (nothing is ever imported or run).
    case pickleForbiddenGlobal
    /// A pickle that exceeds a safety limit (nesting, memo size, items, stack).
    case pickleLimit
    /// A valid pickle feature this reader does not support (out-of-band buffers).
    case pickleUnsupported
    /// A value of the wrong kind where the writer or a model expects another.
    case pickleWrite
    /// A malformed zip archive: bad signatures, lengths or offsets outside the region.
    case zipInvalid
    /// A zip feature torch never writes: compression, encryption, multi-disk archives.
    case zipUnsupported
    /// A zip entry whose CRC-32 does not match its bytes.
    case zipChecksum
    /// A torch.save archive whose records or data.pkl do not describe tensors correctly.
    case torchSaveInvalid
    /// A tensor whose layout this library cannot expose (non-contiguous strides, unknown dtype).
    case tensorUnsupported
    /// A DCP `.metadata` that is malformed or inconsistent with its data files.
    case dcpInvalid
    /// DCP features MCore never writes (compression transforms).
    case dcpUnsupported
    /// The chunks of a tensor do not tile it exactly (a hole or an overlap).
    case dcpTiling
    /// `integrity.json` does not vouch for the files: a digest differs, a listed file is missing, a data file
    /// is not listed, or the manifest itself is malformed.
    case integrity
    /// A checkpoint folder whose layout cannot be resolved (tracker, iteration folders, rank folders).
    case checkpointLayout
    /// A key, record or file that was asked for is not there.
    case notFound
    /// A write plan that is inconsistent.
    case invalidPlan
    /// I/O failure.
    case io
}

/// The error type of the TorchFormats module.
public typealias TorchFormatsError = ModuleError<TorchFormatsErrorCode>

extension ModuleError where C == TorchFormatsErrorCode {
    /// Converts any error into this module's type, adding context; a TensorCore error keeps its text.
    static func wrap(_ error: Error, code: Code = .io, file: String? = nil, key: String? = nil) -> TorchFormatsError {
        if let e = error as? TorchFormatsError { return e.with(file: file, key: key) }
        if let d = error as? DiagnosticError {
            return TorchFormatsError(code, d.summary, file: d.file ?? file, key: d.key ?? key, byteOffset: d.byteOffset,
                                     hint: d.hint, underlying: error)
        }
        return TorchFormatsError(code, String(describing: error), file: file, key: key, underlying: error)
    }
}
