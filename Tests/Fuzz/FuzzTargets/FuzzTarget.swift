import Foundation
import TensorCore

/// One parser of untrusted bytes, driven by libFuzzer (`Tests/Fuzz/Harness`) and by the regression
/// tests (`Tests/FuzzRegressionTests`), so a crash found by one is replayed by the other.
///
/// `run` must return normally for every input: a parser may refuse bytes only with a typed error
/// (`DiagnosticError`, or `JSONParseError` from the JSON layer). A trap, an untyped error, or a
/// violated round-trip property stops the process, which libFuzzer records as a crash.
public struct FuzzTarget: Sendable {
    /// The harness name (`pickle`, `zip`, …): the corpus folder, the dictionary and the regression folder.
    public let name: String
    /// What it feeds the bytes to.
    public let summary: String
    let body: @Sendable (UnsafeRawBufferPointer) throws -> Void

    /// Seeds are made by `Tests/Fuzz/make_seeds.py` into the folder named like the harness.
    public init(name: String, summary: String, body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) {
        self.name = name
        self.summary = summary
        self.body = body
    }

    /// Runs one input; traps on anything but success or a typed refusal.
    public func run(_ bytes: UnsafeRawBufferPointer) {
        do {
            try body(bytes)
        } catch {
            FuzzCheck.typed(error, target: name)
        }
    }

    public func run(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { run($0) }
    }

    /// Runs one input and rethrows a refusal (tests use it to require that a valid file is accepted).
    public func check(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try body($0) }
    }
}

/// The checks every harness applies.
public enum FuzzCheck {
    /// Traps unless `error` is one of the project's typed errors.
    public static func typed(_ error: Error, target: String) {
        if error is DiagnosticError || error is JSONParseError { return }
        fatalError("fuzz[\(target)]: untyped error \(type(of: error)): \(error)")
    }

    /// Traps with `message` when `condition` is false (a broken property, not a refusal).
    public static func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, target: String) {
        if !condition() { fatalError("fuzz[\(target)]: \(message())") }
    }
}
