import Bridge
import TensorCore

/// What a module error says about its origin: the module ("Bridge", "SafeTensors", …) and its code.
protocol ModuleCoded {
    var moduleName: String { get }
    var codeName: String { get }
}

extension ModuleError: ModuleCoded {
    var moduleName: String {
        let type = String(describing: C.self)
        return type.hasSuffix("ErrorCode") ? String(type.dropLast("ErrorCode".count)) : type
    }

    var codeName: String { String(describing: code) }
}

/// The JSON results of every entry point: `{"ok": true, "result": …}` or `{"ok": false, "error": …}`.
enum Envelope {
    static func success(_ result: JSONValue) -> JSONValue { .object([("ok", .bool(true)), ("result", result)]) }

    /// The error object: module, code, message, file, key, offset, hint, and the cause chain.
    /// A cancellation is reported as itself ({"module": "TensorCore", "code": "cancelled"}) however deep the
    /// layer that wrapped it (a writer adds its file).
    static func failure(_ error: Error) -> JSONValue {
        var cause: Error? = error
        while let e = cause {
            if let t = e as? TensorCoreError, t.code == .cancelled { return failure(reported: t) }
            cause = (e as? DiagnosticError)?.underlying
        }
        return failure(reported: error)
    }

    private static func failure(reported error: Error) -> JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        var fields: [(String, JSONValue)]
        if let d = error as? DiagnosticError {
            // Bridge's `.lowerLayer` errors only add what Bridge was doing (their summary, file, key, offset and
            // hint are reported); the module and code are their cause's.
            let coded = BridgeError.cause(of: d) as? ModuleCoded
            fields = [("module", .string(coded?.moduleName ?? "Bridge")), ("code", .string(coded?.codeName ?? "error")),
                      ("message", .string(d.summary)), ("file", opt(d.file)), ("key", opt(d.key)),
                      ("offset", d.byteOffset.map(JSONValue.int) ?? .null), ("hint", opt(d.hint)),
                      ("description", .string(d.oneLine)), ("causes", .array(d.causeChain.map { .string($0) }))]
        } else {
            fields = [("module", .string("Swift")), ("code", .string("error")), ("message", .string(String(describing: error))),
                      ("file", .null), ("key", .null), ("offset", .null), ("hint", .null),
                      ("description", .string(String(describing: error))), ("causes", .array([]))]
        }
        return .object([("ok", .bool(false)), ("error", .object(fields))])
    }
}
