import Foundation
import SafeTensors
import TensorCore
import TestSupport
@testable import TorchFormats

/// The Megatron checkpoints among the oracle fixtures (made by megatron-core / Megatron-Bridge and torch).
enum FixtureCatalog {
    struct Checkpoint: CustomStringConvertible {
        /// Relative fixture path of the folder to open (a root with a tracker, or a torch_dist folder).
        var path: String
        /// The iteration folder holding `.metadata` and `layout.json`.
        var iterationFolder: String
        /// The oracle's global tensors for this checkpoint (nil for mcore_gpt, which has none).
        var globalTensors: String?
        var description: String { path }
    }

    static let bridge: [Checkpoint] = {
        var out = [Checkpoint]()
        for model in ["qwen3_vl_dense_tiny", "qwen3_vl_moe_tiny"] {
            // The model folder of the unpacked oracle tree (the plain Fixtures/<model> holds only HF demo files).
            guard let global = try? Fixtures.path("\(model)/megatron_global_tensors.safetensors") else { continue }
            let root = FileSystem.dirname(global)
            guard let names = try? FileSystem.list(root) else { continue }
            for name in names where name.hasPrefix("bridge") && FileSystem.isDirectory(FileSystem.join(root, name, "megatron")) {
                let global = name.hasPrefix("bridge06") ? "\(model)/\(name)/megatron_global_tensors.safetensors"
                    : "\(model)/megatron_global_tensors.safetensors"
                out.append(Checkpoint(path: "\(model)/\(name)/megatron", iterationFolder: "\(model)/\(name)/megatron/iter_0000000",
                                      globalTensors: global))
            }
        }
        return out
    }()

    static let mcore: [Checkpoint] = ["dense/tp1_ep1", "dense/tp2_ep1", "moe/tp1_ep1", "moe/tp1_ep2"].map {
        Checkpoint(path: "mcore_gpt/\($0)/torch_dist", iterationFolder: "mcore_gpt/\($0)/torch_dist", globalTensors: nil)
    }

    static var all: [Checkpoint] { bridge + mcore }

    /// `layout.json` written next to each checkpoint by the oracle (scripts/50_inspect_megatron.py).
    struct Layout {
        struct Chunk: Equatable {
            var offsets: [Int], sizes: [Int], file: String, byteOffset: Int, byteLength: Int
        }
        var tensors: [String: (dtype: String, shape: [Int], chunks: [Chunk])] = [:]
        var bytes: [String: (file: String, byteOffset: Int, byteLength: Int)] = [:]
    }

    static func layout(_ c: Checkpoint) throws -> Layout {
        let json = try JSONParser.parse(try readWholeFile(try Fixtures.path(c.iterationFolder + "/layout.json")))
        var out = Layout()
        for (k, t) in json["tensors"]?.objectMembers ?? [] {
            let chunks = (t["chunks"]?.arrayValue ?? []).map { ch in
                Layout.Chunk(offsets: ch["offsets"]!.arrayValue!.map { $0.intValue! }, sizes: ch["sizes"]!.arrayValue!.map { $0.intValue! },
                             file: ch["file"]!.stringValue!, byteOffset: ch["byte_offset"]!.intValue!, byteLength: ch["byte_length"]!.intValue!)
            }
            out.tensors[k] = (t["dtype"]!.stringValue!, t["global_shape"]!.arrayValue!.map { $0.intValue! }, chunks)
        }
        for (k, b) in json["bytes"]?.objectMembers ?? [] {
            out.bytes[k] = (b["file"]!.stringValue!, b["byte_offset"]!.intValue!, b["byte_length"]!.intValue!)
        }
        return out
    }

    /// XXH3 of a tensor's row-major bytes.
    static func hash(_ t: TensorSource) throws -> UInt64 {
        let h = XXH3Hasher()
        h.update(try t.readBytes())
        return h.digest
    }
}

/// A scratch folder removed when the test ends.
final class ScratchFolder {
    let path: String
    init(_ name: String) { path = Fixtures.scratch(name) }
    deinit { FileSystem.remove(path) }
    func file(_ name: String) -> String { FileSystem.join(path, name) }
}

/// Bytes of a hex listing like "80 02 5D 4E 61 2E".
func hexBytes(_ s: String) -> [UInt8] {
    s.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
}

/// Small pickle builders for hand-made streams.
enum P {
    static func global(_ m: String, _ n: String) -> [UInt8] { [0x63] + Array(m.utf8) + [0x0A] + Array(n.utf8) + [0x0A] }
    static func unicode(_ s: String) -> [UInt8] {
        let u = Array(s.utf8)
        return [0x58, UInt8(u.count & 0xFF), UInt8((u.count >> 8) & 0xFF), UInt8((u.count >> 16) & 0xFF), UInt8(u.count >> 24)] + u
    }
    static func short(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
}

/// A tensor in memory for tests.
final class ArrayTensor: TensorSource {
    let dtype: DType
    let shape: [Int]
    let bytes: [UInt8]
    private let inner: ContiguousTensor

    init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, bytes.count), alignment: 16)
        bytes.withUnsafeBytes { if $0.count > 0 { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        holder = Holder(buffer)
        inner = ContiguousTensor(dtype: dtype, shape: shape, base: UnsafeRawPointer(buffer), owner: holder)
    }

    private let holder: Holder
    final class Holder {
        let p: UnsafeMutableRawPointer
        init(_ p: UnsafeMutableRawPointer) { self.p = p }
        deinit { p.deallocate() }
    }

    /// Deterministic pseudo-random bytes (a fixed LCG), so tests need no data files.
    static func pattern(_ dtype: DType, _ shape: [Int], seed: UInt64 = 1) -> ArrayTensor {
        let n = Shape.byteCount(shape, dtype)!
        var x = seed &* 6364136223846793005 &+ 1442695040888963407
        var b = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            b[i] = UInt8(truncatingIfNeeded: x >> 33)
        }
        if dtype == .f32 || dtype == .bf16 || dtype == .f16 || dtype == .f64 {
            // Keep floats finite: clear the top exponent bit of every element.
            let es = dtype.byteSize!
            var i = es - 1
            while i < n { b[i] &= 0x3F; i += es }
        }
        if dtype == .bool { for i in 0..<n { b[i] &= 1 } }
        return ArrayTensor(dtype: dtype, shape: shape, bytes: b)
    }

    func pieces(covering box: Box) throws -> [TensorPiece] { try inner.pieces(covering: box) }
}
