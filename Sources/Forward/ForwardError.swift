import TensorCore

/// The codes of Forward errors: bad configs, missing or mis-shaped weights, unusable inputs.
public enum ForwardErrorCode: String, ErrorCode {
    /// config.json is missing a field, has a wrong type, or asks for an unsupported feature.
    case config
    /// A weight the model needs is absent from the checkpoint.
    case missingWeight
    /// A weight has the wrong shape or an ambiguous layout.
    case badWeight
    /// The inputs do not fit the model (token ids out of range, image tokens vs grid mismatch...).
    case input
    /// Two logit arrays cannot be compared (different shapes).
    case comparison
}

/// The error type of the Forward module: the project's one error shape (`ModuleError`), so a forward error
/// carries the file, key, byte offset, hint and cause like every other module's.
public typealias ForwardError = ModuleError<ForwardErrorCode>

extension ModuleError where C == ForwardErrorCode {
    /// Throws `.input` unless `0 <= index < count`: a text layer, vision block or merger a caller asked
    /// a weight reader for (`what` names which).
    static func checkIndex(_ index: Int, below count: Int, _ what: String) throws {
        guard index >= 0 && index < count else { throw ForwardError(.input, "\(what) \(index) is outside 0..<\(count)") }
    }
}
