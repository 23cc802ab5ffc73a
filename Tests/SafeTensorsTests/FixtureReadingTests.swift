import Testing
import TensorCore
import TestSupport
@testable import SafeTensors

/// Reads the transformers-written fixture checkpoints and compares every tensor's name, shape and dtype
/// with the table transformers printed when it saved them (`hf_tensors.txt`).
@Suite struct FixtureReadingTests {
    struct Expected { var shape: [Int]; var dtype: String; var bf16: String }

    static func expectedTable(_ model: String) throws -> [String: Expected] {
        let text = String(decoding: try readWholeFile(try Fixtures.path("\(model)/hf_tensors.txt")), as: UTF8.self)
        var out = [String: Expected]()
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("name ") {
            let l = String(line)
            guard let open = l.firstIndex(of: "["), let close = l.firstIndex(of: "]") else { continue }
            let name = l[..<open].trimmingCharacters(in: .whitespaces)
            let shape = l[l.index(after: open)..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let rest = l[l.index(after: close)...].split(separator: " ").map(String.init)
            out[name] = Expected(shape: shape, dtype: rest[0], bf16: rest[1])
        }
        return out
    }

    @Test(arguments: ["qwen3_vl_dense_tiny", "qwen3_vl_moe_tiny"])
    func namesShapesAndDTypesMatchTransformers(model: String) throws {
        let expected = try Self.expectedTable(model)
        #expect(expected.count > 50)
        for variant in ["hf", "hf_bf16"] {
            let ckpt = try SafeTensorsCheckpoint(path: try Fixtures.path("\(model)/\(variant)"))
            #expect(Set(ckpt.names) == Set(expected.keys), "tensor names differ in \(variant)")
            for name in ckpt.names {
                let e = try #require(ckpt.entry(name))
                let want = try #require(expected[name])
                #expect(e.shape == want.shape, "\(variant) \(name)")
                #expect(e.dtype.rawValue == (variant == "hf" ? want.dtype : want.bf16), "\(variant) \(name)")
            }
            #expect(ckpt.files.first?.header.metadata == ["format": "pt"])
        }
    }

    @Test func readsOnlyTheHeaderToDescribe() throws {
        let path = try Fixtures.path("qwen3_vl_moe_tiny/hf/model.safetensors")
        let f = try SafeTensorsFile(path: path)
        // The views point into the mapping; nothing was copied to describe them.
        let t = try f.tensor("model.language_model.embed_tokens.weight")
        #expect(t.shape == [1536, 80])
        #expect(t.owner === f.mapping)
        #expect(t.base == f.mapping.base! + f.fileOffset(of: f.entry("model.language_model.embed_tokens.weight")!))
    }

    @Test func bf16CopyIsTheRoundedFP32() throws {
        // transformers made hf_bf16 from hf by casting; our cast must give the same bytes.
        let f32 = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/hf"))
        let b16 = try SafeTensorsCheckpoint(path: try Fixtures.path("qwen3_vl_dense_tiny/hf_bf16"))
        for name in f32.names {
            let a = try f32.tensor(name).readBytes(as: .bf16)
            let b = try b16.tensor(name).readBytes()
            #expect(a == b, "\(name)")
        }
    }
}
