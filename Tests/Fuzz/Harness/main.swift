// The libFuzzer entry points: one binary, the harness chosen by $FUZZ_TARGET (scripts/fuzz.sh sets it).
// Built only by scripts/fuzz.sh with -sanitize=fuzzer,address; never part of `swift build`.
import FuzzTargets
import Foundation

nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    guard let t = FuzzTargets.named(name) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        fputs("set FUZZ_TARGET to one of: \(names)\n", stderr)
        exit(2)
    }
    selected = t
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected!.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
