import Foundation
import Bridge
import TensorCore

// The C entry points (declared in include/ckpt_bridge.h). Each takes a UTF-8 JSON request and returns a
// malloc'd UTF-8 JSON envelope that the caller frees with ckpt_bridge_free. No entry point prints, exits
// or keeps state between calls, so calls from several threads at once are independent.

/// The ABI version; bumped when a signature or a request/result field changes incompatibly.
let abiVersion: Int32 = 1

/// A progress callback: bytes done, bytes total, the tensor being written, the caller's pointer.
/// A non-zero return cancels the conversion.
public typealias ProgressCallback = @convention(c) (Int64, Int64, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Int32

/// Runs `body` on the parsed request and wraps its result (or error) as the JSON envelope.
private func respond(_ operation: String, _ request: UnsafePointer<CChar>?, _ body: (inout Request) throws -> JSONValue) -> UnsafeMutablePointer<CChar>? {
    let envelope: JSONValue
    do {
        var r = try Request(json: request, operation: operation)
        envelope = Envelope.success(try body(&r))
    } catch {
        envelope = Envelope.failure(error)
    }
    return strdup(JSONWriter.write(envelope, pretty: false))
}

/// The write observer that forwards to a C callback (nil when there is none).
private func observer(_ callback: ProgressCallback?, _ user: UnsafeMutableRawPointer?) -> WriteProgress.Observer? {
    guard let callback else { return nil }
    return { done, total, label in label.withCString { callback(Int64(done), Int64(total), $0, user) == 0 } }
}

@_cdecl("ckpt_bridge_abi_version")
public func ckpt_bridge_abi_version() -> Int32 { abiVersion }

@_cdecl("ckpt_bridge_free")
public func ckpt_bridge_free(_ p: UnsafeMutablePointer<CChar>?) { free(p) }

@_cdecl("ckpt_bridge_inspect")
public func ckpt_bridge_inspect(_ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond("inspect", request) { try Operations.inspect(&$0) }
}

@_cdecl("ckpt_bridge_plan_import")
public func ckpt_bridge_plan_import(_ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond("plan_import", request) { try Operations.planImport(&$0) }
}

@_cdecl("ckpt_bridge_plan_export")
public func ckpt_bridge_plan_export(_ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond("plan_export", request) { try Operations.planExport(&$0) }
}

@_cdecl("ckpt_bridge_import")
public func ckpt_bridge_import(_ request: UnsafePointer<CChar>?, _ progress: ProgressCallback?, _ user: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<CChar>? {
    respond("import", request) { try Operations.runImport(&$0, observer: observer(progress, user)) }
}

@_cdecl("ckpt_bridge_export")
public func ckpt_bridge_export(_ request: UnsafePointer<CChar>?, _ progress: ProgressCallback?, _ user: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<CChar>? {
    respond("export", request) { try Operations.runExport(&$0, observer: observer(progress, user)) }
}

@_cdecl("ckpt_bridge_diff")
public func ckpt_bridge_diff(_ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond("diff", request) { try Operations.diff(&$0) }
}

@_cdecl("ckpt_bridge_verify")
public func ckpt_bridge_verify(_ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond("verify", request) { try Operations.verify(&$0) }
}

@_cdecl("ckpt_bridge_forward")
public func ckpt_bridge_forward(_ request: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond("forward", request) { try Operations.forward(&$0) }
}

/// Opens a rank reader; on success `*reader` holds it (close with ckpt_bridge_rank_close) and the result
/// lists its tensors.
@_cdecl("ckpt_bridge_rank_open")
public func ckpt_bridge_rank_open(_ request: UnsafePointer<CChar>?, _ reader: UnsafeMutablePointer<OpaquePointer?>?) -> UnsafeMutablePointer<CChar>? {
    reader?.pointee = nil
    return respond("rank_open", request) { r in
        guard let reader else { throw Envelope.nullArgument("rank_open", "reader") }
        let opened = try RankReader(&r)
        let listing = opened.listing
        reader.pointee = OpaquePointer(Unmanaged.passRetained(opened).toOpaque())
        return listing
    }
}

private func rankReader(_ p: OpaquePointer?) throws -> RankReader {
    guard let p else { throw Envelope.nullArgument("rank_read", "reader") }
    return Unmanaged<RankReader>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

/// Copies tensor `index` into `buffer` (exactly its byte count); returns NULL on success, else an error envelope.
@_cdecl("ckpt_bridge_rank_read")
public func ckpt_bridge_rank_read(_ reader: OpaquePointer?, _ index: Int64, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int64) -> UnsafeMutablePointer<CChar>? {
    do {
        try rankReader(reader).read(Int(index), into: buffer, capacity: Int(capacity))
        return nil
    } catch {
        return strdup(JSONWriter.write(Envelope.failure(error), pretty: false))
    }
}

/// The address of tensor `index`'s bytes in the mapped file, valid until ckpt_bridge_rank_close, or NULL when
/// the tensor must be copied (ckpt_bridge_rank_read) or the arguments are bad.
@_cdecl("ckpt_bridge_rank_view")
public func ckpt_bridge_rank_view(_ reader: OpaquePointer?, _ index: Int64) -> UnsafeRawPointer? {
    (try? rankReader(reader).view(Int(index))) ?? nil
}

@_cdecl("ckpt_bridge_rank_close")
public func ckpt_bridge_rank_close(_ reader: OpaquePointer?) {
    guard let reader else { return }
    Unmanaged<RankReader>.fromOpaque(UnsafeRawPointer(reader)).release()
}

extension Envelope {
    static func nullArgument(_ op: String, _ name: String) -> BridgeError {
        BridgeError(.request, "\(op): '\(name)' is a null pointer", hint: "pass a valid pointer")
    }
}
