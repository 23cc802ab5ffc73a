import TensorCore

extension ModuleError where C == BridgeErrorCode {
    /// Runs `body`; an error of a lower module that escapes it comes out as a `BridgeError` of code
    /// `.lowerLayer` whose summary starts with `step` (what Bridge was doing: which tensor, file or stage),
    /// followed by the original summary, and which keeps the original's file, key, byte offset and hint
    /// (`file` and `key` fill in what the original lacks) with the original as `underlying`.
    ///
    /// Bridge's own errors pass unchanged (they already speak in Bridge's terms, and the innermost step is
    /// the most precise), and so does a cancellation by the progress observer (it is not a failure).
    static func during<T>(_ step: @autoclosure () -> String, file: String? = nil, key: String? = nil,
                          _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw wrapping(error, step: step(), file: file, key: key) }
    }

    /// The error a chain of `.lowerLayer` wrappers was made from (`error` itself when it is none): its module
    /// and code classify the failure, and two wrappings of one failure share it.
    public static func cause(of error: DiagnosticError) -> DiagnosticError {
        var e = error
        while let b = e as? BridgeError, b.code == .lowerLayer, let cause = b.underlying as? DiagnosticError { e = cause }
        return e
    }

    /// `error` with the context of `step`, as `during` gives it.
    static func wrapping(_ error: Error, step: String, file: String? = nil, key: String? = nil) -> Error {
        if error is BridgeError { return error }
        if let t = error as? TensorCoreError, t.code == .cancelled { return error }
        guard let d = error as? DiagnosticError else {
            return BridgeError(.lowerLayer, "\(step): \(error)", file: file, key: key, underlying: error)
        }
        return BridgeError(.lowerLayer, "\(step): \(d.summary)", file: d.file ?? file, key: d.key ?? key,
                           byteOffset: d.byteOffset, hint: d.hint, underlying: error)
    }
}
