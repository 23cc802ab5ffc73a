import Bridge
import Foundation
import TensorCore

/// A JSON request object read field by field with types checked. Every field must be read by the
/// operation: `finish()` refuses the ones left over, so a misspelt option is an error, never ignored.
struct Request {
    private let fields: [(String, JSONValue)]
    private var used = Set<String>()
    let operation: String

    init(json text: UnsafePointer<CChar>?, operation: String) throws {
        self.operation = operation
        guard let text else { throw BridgeError(.request, "\(operation): the request is a null pointer", hint: "pass a JSON object, e.g. {}") }
        let value: JSONValue
        do { value = try JSONParser.parse(String(cString: text)) } catch let e as JSONParseError {
            throw BridgeError(.request, "\(operation): the request is not JSON: \(e.message)", byteOffset: e.offset, hint: "pass a UTF-8 JSON object")
        }
        guard let members = value.objectMembers else {
            throw BridgeError(.request, "\(operation): the request is not a JSON object", hint: "pass an object such as {\"path\": \"...\"}")
        }
        fields = members
    }

    private mutating func value(_ name: String) -> JSONValue? {
        used.insert(name)
        guard let v = fields.last(where: { $0.0 == name })?.1, !v.isNull else { return nil }
        return v
    }

    private func bad(_ name: String, _ want: String) -> BridgeError {
        BridgeError(.request, "\(operation): '\(name)' must be \(want)", key: name, hint: "see ckpt_bridge.h for the request fields")
    }

    /// A field read as `read` gives it: nil when absent, an error naming it when of another kind (`want`).
    private mutating func typed<T>(_ name: String, _ want: String, _ read: (JSONValue) -> T?) throws -> T? {
        guard let v = value(name) else { return nil }
        guard let x = read(v) else { throw bad(name, want) }
        return x
    }

    mutating func string(_ name: String) throws -> String? { try typed(name, "a string", \.stringValue) }

    /// An iteration as the tracker file spells it: a non-negative integer, or "release".
    mutating func iterationText(_ name: String) throws -> String? {
        guard let v = value(name) else { return nil }
        if let n = v.intValue, n >= 0 { return String(n) }
        if v.stringValue == "release" { return "release" }
        throw bad(name, "a non-negative integer or \"release\"")
    }

    mutating func requiredString(_ name: String) throws -> String {
        guard let s = try string(name) else {
            throw BridgeError(.request, "\(operation): '\(name)' is required", key: name, hint: "see ckpt_bridge.h for the request fields")
        }
        return s
    }

    mutating func int(_ name: String, min: Int? = nil) throws -> Int? {
        guard let i = try typed(name, "an integer", \.intValue) else { return nil }
        if let min, i < min { throw bad(name, "at least \(min)") }
        return i
    }

    mutating func double(_ name: String) throws -> Double? { try typed(name, "a number", \.doubleValue) }

    mutating func bool(_ name: String) throws -> Bool? {
        try typed(name, "true or false", \.boolValue)
    }

    mutating func strings(_ name: String) throws -> [String] {
        guard let v = value(name) else { return [] }
        guard let a = v.arrayValue, let s = Optional(a.compactMap(\.stringValue)), s.count == a.count else { throw bad(name, "a list of strings") }
        return s
    }

    /// A string field naming one case of `E` (its raw value).
    mutating func choice<E: RawRepresentable & CaseIterable>(_ name: String, _ type: E.Type) throws -> E? where E.RawValue == String {
        guard let s = try string(name) else { return nil }
        guard let e = E(rawValue: s) else { throw bad(name, "one of \(E.allCases.map(\.rawValue).joined(separator: ", "))") }
        return e
    }

    /// A byte count: an integer, or a string with a unit ("5GB" = 5·10⁹ bytes, "2GiB").
    mutating func byteSize(_ name: String) throws -> Int? {
        guard let v = value(name) else { return nil }
        if let i = v.intValue, i > 0 { return i }
        if let s = v.stringValue, let n = ByteCount.parse(s), n > 0 { return n }
        throw bad(name, "a positive byte count (an integer, or a string such as \"5GB\")")
    }

    /// A nested object (such as the rank of `rank_open`).
    mutating func object(_ name: String) throws -> Request? {
        guard let v = value(name) else { return nil }
        guard let m = v.objectMembers else { throw bad(name, "an object") }
        return Request(fields: m, operation: "\(operation).\(name)")
    }

    private init(fields: [(String, JSONValue)], operation: String) {
        self.fields = fields
        self.operation = operation
    }

    /// Refuses fields no one read (fail closed on typos).
    func finish() throws {
        if let extra = fields.map(\.0).first(where: { !used.contains($0) }) {
            throw BridgeError(.request, "\(operation): unknown request field '\(extra)'", key: extra, hint: "see ckpt_bridge.h for the request fields")
        }
    }
}

/// `dtype`: "keep" (bit-exact, the default), "bf16", "fp16" or "fp32", as the CLI's --dtype.
extension Request {
    mutating func dtype() throws -> DType? {
        switch try string("dtype") ?? "keep" {
        case "keep": return nil
        case "bf16": return .bf16
        case "fp16": return .f16
        case "fp32": return .f32
        default: throw BridgeError(.request, "\(operation): 'dtype' must be one of keep, bf16, fp16, fp32", key: "dtype")
        }
    }
}
