import Foundation
import SafeTensors
import TensorCore
import TestSupport
import XCTest

/// `FP8Block` against torch: Fixtures/fp8 (scripts/oracle/make_fp8_fixtures.py) holds torch's quantization of
/// the tiny models' fp32 weights and torch's dequantization of it, with partial 48×48 edge blocks.
final class FP8BlockTests: XCTestCase {
    private func check(_ model: String) throws {
        let src = try SafeTensorsCheckpoint(path: try Fixtures.path("\(model)/hf"))
        let fp8 = try SafeTensorsCheckpoint(path: try Fixtures.path("fp8/\(model)/hf"))
        let exp16 = try SafeTensorsCheckpoint(path: try Fixtures.path("fp8/\(model)/expected_bf16.safetensors"))
        let exp32 = try SafeTensorsCheckpoint(path: try Fixtures.path("fp8/\(model)/expected_fp32.safetensors"))
        XCTAssertFalse(exp16.names.isEmpty)
        for name in exp16.names {
            let q = try fp8.tensor(name)
            let scaleName = name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) + ".weight_scale_inv" : name + "_scale_inv"
            let scales = try fp8.tensor(scaleName).readFloats()
            let qb = try q.readBytes(), w = try src.tensor(name).readFloats()
            let rows = q.shape[q.shape.count - 2], cols = q.shape[q.shape.count - 1], mats = qb.count / (rows * cols)
            let sPer = scales.count / mats
            var deq = [Float](), qOut = [UInt8](), sOut = [Float]()
            for e in 0..<mats {
                let qs = Array(qb[(e * rows * cols)..<((e + 1) * rows * cols)]), ss = Array(scales[(e * sPer)..<((e + 1) * sPer)])
                deq += qs.withUnsafeBufferPointer { qp in ss.withUnsafeBufferPointer { FP8Block.dequantize(qp, scales: $0, rows: rows, cols: cols, block: (48, 48)) } }
                let ws = Array(w[(e * rows * cols)..<((e + 1) * rows * cols)])
                let r = ws.withUnsafeBufferPointer { FP8Block.quantize($0, rows: rows, cols: cols, block: (48, 48)) }
                qOut += r.q
                sOut += r.scaleInv
            }
            XCTAssertEqual(qOut, qb, "\(name): quantized bytes differ from torch's")
            XCTAssertEqual(sOut.map(\.bitPattern), scales.map(\.bitPattern), "\(name): scales differ from torch's")
            XCTAssertEqual(deq.map(\.bitPattern), try exp32.tensor(name).readFloats().map(\.bitPattern), "\(name): fp32")
            let bf = deq.map { FloatCast.floatToBF16($0) }
            let want = try exp16.tensor(name).readBytes()
            let got = bf.withUnsafeBytes { Array($0) }
            XCTAssertEqual(got, want, "\(name): bf16")
        }
    }

    func testDenseMatchesTorch() throws { try check("qwen3_vl_dense_tiny") }
    func testMoEMatchesTorch() throws { try check("qwen3_vl_moe_tiny") }

    /// Every one of the 256 e4m3fn bytes decodes and re-encodes to itself (NaNs to the canonical NaN).
    func testE4M3RoundTrip() {
        for b in 0...255 {
            let f = FP8Block.e4m3ToFloat(UInt8(b))
            if f.isNaN { XCTAssertEqual(b & 0x7F, 0x7F); continue }
            XCTAssertEqual(FP8Block.floatToE4M3(f), UInt8(b), "byte \(b)")
        }
    }
}
