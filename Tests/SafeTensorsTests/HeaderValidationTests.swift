import Testing
import TensorCore
@testable import SafeTensors

/// Builds raw safetensors bytes from a header string and a data buffer, as the crate's tests do.
private func file(_ header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = [UInt8]()
    withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
    return out + h + data
}

private func parseError(_ bytes: [UInt8]) -> SafeTensorsError.Code? {
    do {
        _ = try bytes.withUnsafeBytes { try SafeTensorsHeader.parse($0, path: "mem.safetensors") }
        return nil
    } catch let e as SafeTensorsError {
        return e.code
    } catch {
        return nil
    }
}

/// One test per negative test of the reference Rust crate (`safetensors/src/tensor.rs`), plus the
/// rules the crate documents but leaves to serde (duplicates, unknown dtype, leading '{').
@Suite struct HeaderValidationTests {
    @Test func headerTooSmall() {
        #expect(parseError([]) == .headerTooSmall)
        #expect(parseError([1, 2, 3, 4, 5, 6, 7]) == .headerTooSmall)
    }

    @Test func headerTooLarge() {
        #expect(parseError(file("{}", lengthOverride: 100_000_001)) == .headerTooLarge)
        #expect(parseError(file("{}", lengthOverride: UInt64.max)) == .headerTooLarge)
    }

    @Test func invalidHeaderLength() {
        // Declared length runs past the end of the buffer.
        #expect(parseError(file("{}", lengthOverride: 1000)) == .invalidHeaderLength)
    }

    @Test func invalidHeaderNonUTF8() {
        var f = file("{}  ")
        f[9] = 0xFF
        #expect(parseError(f) == .invalidHeaderUTF8)
    }

    @Test func invalidHeaderNotJSON() {
        #expect(parseError(file("{x}")) == .invalidHeaderDeserialization)
        #expect(parseError(file("{\"a\": {\"dtype\": \"F32\"}}")) == .invalidHeaderDeserialization)
    }

    @Test func headerMustStartWithBrace() {
        #expect(parseError(file(" {}")) == .invalidHeaderStart)
        #expect(parseError(file("[]")) == .invalidHeaderStart)
    }

    @Test func jsonAttackOverlappingOffsets() {
        // Ten tensors all at (0, 16): the crate's test_json_attack.
        var members = [String]()
        for i in 0..<10 { members.append("\"t\(i)\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}") }
        let f = file("{" + members.joined(separator: ",") + "}", data: [UInt8](repeating: 0, count: 16))
        #expect(parseError(f) == .invalidOffset)
    }

    @Test func gappedAndOutOfOrderOffsets() {
        let gap = file("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}, \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [3, 5]}}",
                       data: [UInt8](repeating: 0, count: 5))
        #expect(parseError(gap) == .invalidOffset)
        let notFromZero = file("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [1, 3]}}", data: [0, 0, 0])
        #expect(parseError(notFromZero) == .invalidOffset)
        let reversed = file("{\"a\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [2, 0]}}", data: [0, 0])
        #expect(parseError(reversed) == .invalidOffset)
    }

    @Test func metadataIncompleteBuffer() {
        // Header says 8 bytes of data, the buffer has 4 (truncated), or 12 (trailing bytes).
        let h = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}"
        #expect(parseError(file(h, data: [0, 0, 0, 0])) == .metadataIncompleteBuffer)
        #expect(parseError(file(h, data: [UInt8](repeating: 0, count: 12))) == .metadataIncompleteBuffer)
    }

    @Test func invalidInfo() {
        // Shape [2, 2] of F32 needs 16 bytes, the range holds 8.
        let f = file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 8]}}", data: [UInt8](repeating: 0, count: 8))
        #expect(parseError(f) == .tensorInvalidInfo)
    }

    @Test func validationOverflow() {
        let big = "\(UInt64(Int.max))"
        let f = file("{\"a\": {\"dtype\": \"F32\", \"shape\": [\(big), \(big)], \"data_offsets\": [0, 0]}}")
        #expect(parseError(f) == .validationOverflow)
        let f2 = file("{\"a\": {\"dtype\": \"F64\", \"shape\": [\(Int.max / 4)], \"data_offsets\": [0, 0]}}")
        #expect(parseError(f2) == .validationOverflow)
    }

    @Test func misalignedSubByteSlice() {
        // Three F4 values are 12 bits: not a whole number of bytes (test_serialization_fp4_misaligned).
        let f = file("{\"a\": {\"dtype\": \"F4\", \"shape\": [3], \"data_offsets\": [0, 2]}}", data: [0, 0])
        #expect(parseError(f) == .misalignedSlice)
    }

    @Test func metadataMustBeStrings() {
        let f = file("{\"__metadata__\": {\"format\": 1}}")
        #expect(parseError(f) == .invalidMetadata)
        let f2 = file("{\"__metadata__\": [\"x\"]}")
        #expect(parseError(f2) == .invalidMetadata)
    }

    @Test func duplicateKeysRejected() {
        let e = "{\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}"
        #expect(parseError(file("{\"a\": \(e), \"a\": \(e)}", data: [0])) == .duplicateKey)
    }

    @Test func unknownDType() {
        let f = file("{\"a\": {\"dtype\": \"F12\", \"shape\": [1], \"data_offsets\": [0, 1]}}", data: [0])
        #expect(parseError(f) == .unknownDType)
    }

    @Test func truncatedFile() {
        let h = "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}"
        let full = file(h, data: [UInt8](repeating: 1, count: 16))
        #expect(parseError(full) == nil)
        #expect(parseError(Array(full.dropLast(3))) == .metadataIncompleteBuffer)
    }

    @Test func zeroSizedAndScalarTensorsAllowed() throws {
        let h = "{\"empty\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [0, 0]}, \"scalar\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}}"
        let bytes = file(h, data: [0, 0, 128, 63])
        let header = try bytes.withUnsafeBytes { try SafeTensorsHeader.parse($0) }
        #expect(header.entries.map(\.name) == ["empty", "scalar"])
        #expect(header.entries[1].shape == [])
    }

    @Test func everyDTypeParses() throws {
        for dt in DType.allCases {
            let n = dt.bitSize % 8 == 0 ? 1 : 8 // 8 elements make whole bytes for F4 and F6
            let bytes = n * dt.bitSize / 8
            let h = "{\"t\": {\"dtype\": \"\(dt.rawValue)\", \"shape\": [\(n)], \"data_offsets\": [0, \(bytes)]}}"
            let f = file(h, data: [UInt8](repeating: 0, count: bytes))
            let header = try f.withUnsafeBytes { try SafeTensorsHeader.parse($0) }
            #expect(header.entries.first?.dtype == dt)
        }
    }

    @Test func errorsNameFileKeyAndOffset() {
        let f = file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 8]}}", data: [UInt8](repeating: 0, count: 8))
        do {
            _ = try f.withUnsafeBytes { try SafeTensorsHeader.parse($0, path: "x.safetensors") }
            Issue.record("expected an error")
        } catch let e as SafeTensorsError {
            #expect(e.file == "x.safetensors")
            #expect(e.key == "a")
            #expect(e.byteOffset != nil)
            #expect(e.oneLine.contains("x.safetensors"))
        } catch {
            Issue.record("wrong error type \(error)")
        }
    }
}
