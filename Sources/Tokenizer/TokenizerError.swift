import TensorCore

/// The codes of Tokenizer errors.
public enum TokenizerErrorCode: String, ErrorCode {
    /// tokenizer.json or tokenizer_config.json is missing, not JSON, or describes something this reader
    /// does not implement (another model type, normalizer, pre-tokenizer or decoder).
    case config
    /// A text or token id cannot be encoded or decoded (an id outside the vocabulary).
    case input
}

/// The error type of the Tokenizer module (the project's one error shape, `ModuleError`).
public typealias TokenizerError = ModuleError<TokenizerErrorCode>
