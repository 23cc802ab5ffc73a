import TensorCore

/// The error type of the Forward module: bad configs, missing or mis-shaped weights, unusable inputs.
public struct ForwardError: DiagnosticError {
    public enum Code: String, Sendable {
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

    public var code: Code
    public var summary: String
    public var file: String?
    public var key: String?
    public var byteOffset: Int? { nil }
    public var hint: String?
    public var underlying: Error?

    public init(_ code: Code, _ summary: String, file: String? = nil, key: String? = nil, hint: String? = nil,
                underlying: Error? = nil) {
        self.code = code
        self.summary = summary
        self.file = file
        self.key = key
        self.hint = hint
        self.underlying = underlying
    }
}
