import TensorCore

/// The codes of ModelSpec errors.
public enum ModelSpecErrorCode: String, ErrorCode {
    /// A field is missing, has the wrong type, lies outside its range (`Limits`), or contradicts another.
    case config
}

/// The error type of the ModelSpec module: a config.json that does not describe a valid model.
/// `key` is the field's path (`text_config.num_hidden_layers`).
public typealias ModelSpecError = ModuleError<ModelSpecErrorCode>
