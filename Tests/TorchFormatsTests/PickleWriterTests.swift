import Foundation
import TensorCore
import TestSupport
import Testing
@testable import TorchFormats

/// The protocol-2 writer: byte-exact against the listings of the format reference, and lossless
/// through the reader.
@Suite struct PickleWriterTests {
    /// §1.6: torch writes `[None]` as `80 02 ] q\x00 N a .`; without the optional memo that is `80 02 ] N a .`.
    @Test func noneListMatchesTorchWithoutMemo() throws {
        #expect(try PickleWriter.serialize(.list([.none])) == hexBytes("80 02 5D 4E 61 2E"))
        // torch's own bytes (with BINPUT) read back to the same value.
        #expect(try PickleReader().read(hexBytes("80 02 5D 71 00 4E 61 2E")) == .list([.none]))
    }

    /// §2.3: the data.pkl torch writes for a (3, 4) bfloat16 tensor, memo opcodes left out.
    @Test func tensorPickleMatchesTorchListing() throws {
        let payload = try TorchTensorPayload(source: ArrayTensor.pattern(.bf16, [3, 4]))
        let plan = try TorchSaveWriter.plan(.tensorPayload(payload))
        var expected = [UInt8]([0x80, 0x02])
        expected += P.global("torch._utils", "_rebuild_tensor_v2")
        expected += [0x28, 0x28] + P.unicode("storage") + P.global("torch", "BFloat16Storage") + P.unicode("0") + P.unicode("cpu")
        expected += [0x4B, 0x0C, 0x74, 0x51]                    // K 12, TUPLE, BINPERSID
        expected += [0x4B, 0x00]                                // storage offset 0
        expected += [0x4B, 0x03, 0x4B, 0x04, 0x86]              // size (3, 4)
        expected += [0x4B, 0x04, 0x4B, 0x01, 0x86]              // stride (4, 1)
        expected += [0x89]                                      // requires_grad False
        expected += P.global("collections", "OrderedDict") + [0x29, 0x52]
        expected += [0x74, 0x52, 0x2E]
        #expect(plan.pickle == expected)
    }

    /// §1.8: the protocol-2 `.metadata` of one bf16 tensor [4096] in one chunk at byte 1325 of
    /// `__0_0.distcp`, plus one byte item at byte 0. The listing's writer used MARK+APPENDS for the
    /// one-element chunk list; CPython's pickler (and this writer) use APPEND for a single item.
    @Test func metadataMatchesReferenceListing() throws {
        let tensorKey = "decoder.final_layernorm.weight"
        let bytesKey = "decoder.layers.self_attention.linear_qkv._extra_state/shard_0_32"
        let meta = DCPMetadata(
            entries: [(tensorKey, .tensor(.init(properties: .init(dtype: .bf16), size: [4096], chunks: [Box(offsets: [0], sizes: [4096])]))),
                      (bytesKey, .bytes)],
            storage: [(.init(fqn: bytesKey), .init(relativePath: "__0_0.distcp", offset: 0, length: 1325)),
                      (.init(fqn: tensorKey, offset: [0]), .init(relativePath: "__0_0.distcp", offset: 1325, length: 9216))])
        let m = "torch.distributed.checkpoint.metadata"
        func newobj(_ cls: String, _ mod: String = m) -> [UInt8] { P.global(mod, cls) + [0x29, 0x81] }
        func size(_ v: [UInt8]) -> [UInt8] { P.global("torch", "Size") + v + [0x85, 0x85, 0x52] }
        var e = [UInt8]([0x80, 0x02]) + newobj("Metadata") + [0x7D, 0x28]
        e += P.unicode("state_dict_metadata") + [0x7D, 0x28]
        e += P.unicode(tensorKey) + newobj("TensorStorageMetadata") + [0x7D, 0x28]
        e += P.unicode("properties") + newobj("TensorProperties")
        e += [0x28] + P.global("torch", "bfloat16")
        e += P.global("torch.serialization", "_get_layout") + P.unicode("torch.strided") + [0x85, 0x52]
        e += [0x89] + P.global(m, "_MEM_FORMAT_ENCODING") + [0x4B, 0x00, 0x85, 0x52] + [0x89] + [0x74, 0x62]
        e += P.unicode("size") + size([0x4D, 0x00, 0x10])
        e += P.unicode("chunks") + [0x5D]
        e += newobj("ChunkStorageMetadata") + [0x7D, 0x28]
        e += P.unicode("offsets") + size([0x4B, 0x00]) + P.unicode("sizes") + size([0x4D, 0x00, 0x10]) + [0x75, 0x62]
        e += [0x61]  // APPEND (see above)
        e += [0x75, 0x62]
        e += P.unicode(bytesKey) + newobj("BytesStorageMetadata")
        e += [0x75]
        e += P.unicode("planner_data") + [0x4E]
        e += P.unicode("storage_data") + [0x7D, 0x28]
        e += newobj("MetadataIndex") + [0x7D, 0x28] + P.unicode("fqn") + P.unicode(bytesKey) + P.unicode("index") + [0x4E, 0x75, 0x62]
        e += newobj("_StorageInfo", "torch.distributed.checkpoint.filesystem") + [0x7D, 0x28] + P.unicode("relative_path")
            + P.unicode("__0_0.distcp") + P.unicode("offset") + [0x4B, 0x00] + P.unicode("length") + [0x4D, 0x2D, 0x05] + [0x75, 0x62]
        e += newobj("MetadataIndex") + [0x7D, 0x28] + P.unicode("fqn") + P.unicode(tensorKey) + P.unicode("index") + [0x4E]
            + P.unicode("offset") + size([0x4B, 0x00]) + [0x75, 0x62]
        e += newobj("_StorageInfo", "torch.distributed.checkpoint.filesystem") + [0x7D, 0x28] + P.unicode("relative_path")
            + P.unicode("__0_0.distcp") + P.unicode("offset") + [0x4D, 0x2D, 0x05] + P.unicode("length") + [0x4D, 0x00, 0x24] + [0x75, 0x62]
        e += [0x75]
        e += P.unicode("storage_meta") + [0x4E]
        e += P.unicode("version") + P.unicode("1.0.0")
        e += [0x75, 0x62, 0x2E]
        let mine = try meta.serialized()
        #expect(mine == e)
        // And it reads back to the same metadata.
        let back = try DCPMetadata(pickle: try PickleReader().read(mine))
        #expect(back.entries.map(\.key) == [tensorKey, bytesKey])
        #expect(back.entries[0].entry == meta.entries[0].entry)
        #expect(back.storage.map(\.index) == meta.storage.map(\.index))
        #expect(back.storage.map(\.info) == meta.storage.map(\.info))
    }

    @Test func integersUseTheSmallestOpcode() throws {
        func body(_ i: Int) throws -> [UInt8] { Array(try PickleWriter.serialize(.int(i)).dropFirst(2).dropLast()) }
        #expect(try body(0) == [0x4B, 0x00])
        #expect(try body(255) == [0x4B, 0xFF])
        #expect(try body(256) == [0x4D, 0x00, 0x01])
        #expect(try body(65535) == [0x4D, 0xFF, 0xFF])
        #expect(try body(65536) == [0x4A, 0x00, 0x00, 0x01, 0x00])
        #expect(try body(-1) == [0x4A, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try body(0x7FFF_FFFF) == [0x4A, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(try body(0x8000_0000) == [0x8A, 0x05, 0x00, 0x00, 0x00, 0x80, 0x00])
        #expect(try body(1 << 40) == [0x8A, 0x06, 0, 0, 0, 0, 0, 0x01])
        #expect(try body(3_000_000_000) == [0x8A, 0x05, 0x00, 0x5E, 0xD0, 0xB2, 0x00])
    }

    /// §2.3: a Python float is BINFLOAT with a big-endian double (3.0 = 40 08 00 …, as in common.pt).
    @Test func floatsAreBigEndian() throws {
        #expect(try PickleWriter.serialize(.float(3.0)) == [0x80, 0x02, 0x47, 0x40, 0x08, 0, 0, 0, 0, 0, 0, 0x2E])
    }

    /// §2.3: bytes in protocol 2 are `_codecs.encode(<latin-1 text>, 'latin1')`.
    @Test func bytesUseCodecsEncode() throws {
        let out = try PickleWriter.serialize(.bytes([0x61, 0xFF]))
        let expected = [0x80, 0x02] + P.global("_codecs", "encode") + P.unicode("a\u{FF}") + P.unicode("latin1") + [0x86, 0x52, 0x2E]
        #expect(out == expected)
    }

    @Test func valuesRoundTrip() throws {
        let big = PickleValue.list((0..<2500).map { .int($0 * 7919) })
        let bigDict = PickleValue.dict((0..<1500).map { (.string("k\($0)"), .float(Double($0) / 3)) })
        let values: [PickleValue] = [
            .none, .bool(true), .bool(false), .int(0), .int(-5), .int(Int.max), .int(Int.min), .int(1 << 33),
            .bigInt([0, 0, 0, 0, 0, 0, 0, 0, 0x01]), .bigInt([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x80]),
            .float(-0.0), .float(.infinity), .float(1e-300), .string(""), .string("héllo ✓ 𝄞"),
            .bytes([]), .bytes(Array(0...255)), .list([]), .list([.int(1)]), big,
            .tuple([]), .tuple([.int(1)]), .tuple([.int(1), .int(2)]), .tuple([.int(1), .int(2), .int(3)]),
            .tuple((0..<9).map { .int($0) }), .dict([]), .dict([(.string("a"), .none)]), bigDict,
            .dict([(.int(3), .string("x")), (.tuple([.int(1), .int(2)]), .list([]))]),
            .set([.int(1), .string("a")], frozen: false), .set([.int(2)], frozen: true),
            .global(module: "torch", name: "bfloat16"),
            .namespace([("num_layers", .int(4)), ("swiglu", .bool(true)), ("params_dtype", .global(module: "torch", name: "bfloat16")),
                        ("cp_comm_type", .list([.string("p2p")])), ("lr", .none)]),
            .persistentID(.tuple([.string("storage"), .string("k")])),
            .list([.dict([(.string("nested"), .list([.tuple([.none, .bool(true)])]))])]),
        ]
        for v in values {
            let bytes = try PickleWriter.serialize(v)
            #expect(try PickleReader().read(bytes) == v, "\(v.kindDescription)")
            // Only opcodes torch's weights_only unpickler accepts (LONG4 only for huge ints).
            let ops = Set(try PickleOpcodeScan.opcodes(bytes))
            #expect(ops.subtracting(PickleOpcodeScan.weightsOnly).isEmpty, "\(ops.subtracting(PickleOpcodeScan.weightsOnly))")
        }
    }

    @Test func interpretedGlobalsReadAsPlainValues() throws {
        let od = try PickleReader().read(try PickleWriter.serialize(.orderedDict([(.string("w"), .int(1)), (.string("b"), .int(2))])))
        #expect(od == .dict([(.string("w"), .int(1)), (.string("b"), .int(2))]))
        #expect(try PickleReader().read(try PickleWriter.serialize(.torchSize([2, 3, 4]))) == .tuple([.int(2), .int(3), .int(4)]))
    }

    /// Python keeps the first position of a re-set dict key and replaces the value.
    @Test func repeatedDictKeysReplaceInPlace() throws {
        var b = [UInt8]([0x80, 0x02, 0x7D, 0x28])
        b += P.unicode("a") + [0x4B, 1] + P.unicode("b") + [0x4B, 2] + P.unicode("a") + [0x4B, 3] + [0x75, 0x2E]
        #expect(try PickleReader().read(b) == .dict([(.string("a"), .int(3)), (.string("b"), .int(2))]))
    }

    @Test func writerRefusesTensorsOutsideTorchSave() throws {
        let payload = try TorchTensorPayload(source: ArrayTensor.pattern(.f32, [2]))
        #expect(throws: TorchFormatsError.self) { try PickleWriter.serialize(.list([.tensorPayload(payload)])) }
    }
}
