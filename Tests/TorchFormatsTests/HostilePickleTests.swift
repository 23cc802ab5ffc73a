import Foundation
import TensorCore
import Testing
@testable import TorchFormats

/// Hostile and broken pickles: each is refused with a typed error that names the global or the limit
/// and the byte offset. Nothing is imported or run, and nothing crashes or hangs.
@Suite struct HostilePickleTests {
    private func refuse(_ bytes: [UInt8], _ code: TorchFormatsError.Code, limits: PickleReader.Limits = .init(),
                        mentioning text: String? = nil, at offset: Int? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let v = try PickleReader(limits: limits).read(bytes, file: "evil.pkl")
            Issue.record("accepted a hostile pickle: \(v.kindDescription)", sourceLocation: sourceLocation)
        } catch let e as TorchFormatsError {
            #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
            #expect(e.file == "evil.pkl", sourceLocation: sourceLocation)
            if let text { #expect(e.summary.contains(text), "\(e.summary)", sourceLocation: sourceLocation) }
            if let offset { #expect(e.byteOffset == offset, "\(e)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func osSystemViaGlobalAndReduce() {
        // The classic: cos\nsystem\n(S'echo pwned'\ntR.
        refuse(Array("cos\nsystem\n(S'echo pwned'\ntR.".utf8), .pickleForbiddenGlobal, mentioning: "os.system", at: 0)
    }

    @Test func builtinsEvalAndPython2Names() {
        refuse(Array("cbuiltins\neval\n(S'1'\ntR.".utf8), .pickleForbiddenGlobal, mentioning: "builtins.eval", at: 0)
        refuse([0x80, 0x02] + P.global("__builtin__", "eval") + [0x29, 0x52, 0x2E], .pickleForbiddenGlobal,
               mentioning: "__builtin__.eval", at: 2)
        refuse(Array("csubprocess\ncheck_output\n.".utf8), .pickleForbiddenGlobal, mentioning: "subprocess.check_output")
    }

    @Test func stackGlobalVariants() {
        // Protocol 4: module and name pushed as strings, STACK_GLOBAL at byte 16.
        let direct: [UInt8] = [0x80, 0x04] + P.short("os") + P.short("system") + [0x93] + P.short("id") + [0x85, 0x52, 0x2E]
        refuse(direct, .pickleForbiddenGlobal, mentioning: "os.system", at: 14)
        // The same with the strings fetched back from the memo.
        let memo: [UInt8] = [0x80, 0x04] + P.short("posix") + [0x94] + P.short("system") + [0x94, 0x30, 0x30]
            + [0x68, 0x00, 0x68, 0x01, 0x93, 0x2E]
        refuse(memo, .pickleForbiddenGlobal, mentioning: "posix.system")
        // STACK_GLOBAL of something that is not a pair of strings.
        refuse([0x80, 0x04, 0x4B, 0x01, 0x4B, 0x02, 0x93, 0x2E], .pickleInvalid, mentioning: "STACK_GLOBAL")
    }

    @Test func instAndObjCallsAreCheckedToo() {
        refuse(Array("(S'ls'\nios\nsystem\n.".utf8), .pickleForbiddenGlobal, mentioning: "os.system")
        // OBJ with an allowlisted constant is still not callable.
        refuse([0x80, 0x02, 0x28] + P.global("torch", "FloatStorage") + [0x6F, 0x2E], .pickleInvalid, mentioning: "cannot be called")
    }

    @Test func onlyGlobalsCanBeCalled() {
        refuse([0x80, 0x02] + P.unicode("os.system") + [0x29, 0x52, 0x2E], .pickleInvalid, mentioning: "REDUCE")
        refuse([0x80, 0x02] + P.global("torch", "float32") + [0x29, 0x52, 0x2E], .pickleInvalid, mentioning: "torch.float32 cannot be called")
        refuse([0x80, 0x02, 0x5D, 0x7D, 0x62, 0x2E], .pickleInvalid, mentioning: "BUILD on a list")
    }

    @Test func memoBombOfSharedLists() {
        // L0 = []; L(i) = [L(i-1), L(i-1)] for 60 levels: 2^61 values if expanded.
        var b: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x30]
        for i in 1...60 {
            b += [0x28, 0x68, UInt8(i - 1), 0x68, UInt8(i - 1), 0x6C, 0x71, UInt8(i), 0x30]
        }
        b += [0x68, 60, 0x2E]
        refuse(b, .pickleLimit, mentioning: "limit of 50000000 items")
    }

    @Test func memoBombOfSharedTuples() {
        // Immutable tuples shared through the memo: ((t, t), (t, t)) … doubling 60 times.
        var b: [UInt8] = [0x80, 0x02, 0x29, 0x71, 0x00, 0x30]
        for i in 1...60 { b += [0x68, UInt8(i - 1), 0x68, UInt8(i - 1), 0x86, 0x71, UInt8(i), 0x30] }
        b += [0x68, 60, 0x2E]
        refuse(b, .pickleLimit, mentioning: "items")
    }

    @Test func repeatedGetsOfALargeContainer() {
        // A list of 200,000 ints, then two lists each holding it 200,000 times (4·10^10 values).
        var b: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x28]
        for i in 0..<200_000 { b += [0x4A, UInt8(i & 0xFF), UInt8((i >> 8) & 0xFF), UInt8(i >> 16), 0] }
        b += [0x65, 0x30, 0x5D, 0x28]
        for _ in 0..<200_000 { b.append(0x68); b.append(0x00) }
        b += [0x65, 0x2E]
        refuse(b, .pickleLimit, mentioning: "items")
    }

    @Test func millionMarksDeep() {
        refuse([0x80, 0x02] + [UInt8](repeating: 0x28, count: 1_000_000) + [0x2E], .pickleLimit, mentioning: "MARK", at: 2 + 1000)
    }

    @Test func millionNestedListsBottomUp() {
        // ]]]…] then aaa…a: each APPEND nests the top list into the one below.
        let n = 1_000_000
        refuse([0x80, 0x02] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E],
               .pickleLimit, mentioning: "nest deeper than the limit of 1000")
    }

    @Test func millionNestedTuples() {
        refuse([0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E], .pickleLimit, mentioning: "nest deeper")
    }

    @Test func deepListsTopDownThroughTheMemo() {
        // L0 = []; then for each i: get L(i-1), make L(i), memoize it, append it into L(i-1), pop.
        // Heights seen at APPEND time stay small, so only the final conversion finds the depth; teardown
        // of the 200,000-node chain must not recurse either.
        var b: [UInt8] = [0x80, 0x02, 0x5D, 0x72, 0, 0, 0, 0, 0x30]
        b.reserveCapacity(2_400_000)
        func u32(_ v: Int) {
            b.append(UInt8(v & 0xFF)); b.append(UInt8((v >> 8) & 0xFF)); b.append(UInt8((v >> 16) & 0xFF)); b.append(UInt8(v >> 24))
        }
        for i in 1...200_000 {
            b.append(0x6A); u32(i - 1)
            b.append(0x5D); b.append(0x72); u32(i)
            b.append(0x61); b.append(0x30)
        }
        b += [0x6A, 0, 0, 0, 0, 0x2E]
        refuse(b, .pickleLimit, mentioning: "nest deeper")
    }

    @Test func selfContainingList() {
        refuse([0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E], .pickleInvalid, mentioning: "contains itself")
    }

    @Test func truncatedInput() throws {
        let good = try PickleWriter.serialize(.dict([(.string("key"), .list([.int(1), .float(2.5)]))]))
        for cut in [1, 2, 5, good.count / 2, good.count - 1] {
            refuse(Array(good.prefix(cut)), .pickleTruncated)
        }
        // A BINUNICODE claiming 1 GiB with 3 bytes left: refused at the opcode's argument.
        refuse([0x80, 0x02, 0x58, 0x00, 0x00, 0x00, 0x40, 0x61, 0x62, 0x2E], .pickleTruncated, at: 7)
        refuse([0x80, 0x04, 0x8E] + [UInt8](repeating: 0xFF, count: 8) + [0x2E], .pickleTruncated)
        refuse([], .pickleTruncated, at: 0)
    }

    @Test func badOpcodesAndStructure() {
        refuse([0x80, 0x02, 0xFF, 0x2E], .pickleInvalid, mentioning: "unknown opcode 0xFF", at: 2)
        refuse([0x80, 0x09, 0x4E, 0x2E], .pickleInvalid, mentioning: "protocol 9")
        refuse([0x80, 0x02, 0x61, 0x2E], .pickleInvalid, mentioning: "APPEND on an empty stack", at: 2)
        refuse([0x80, 0x02, 0x4E, 0x4E, 0x2E], .pickleInvalid, mentioning: "2 values")
        refuse([0x80, 0x02, 0x28, 0x4E, 0x2E], .pickleInvalid, mentioning: "MARK")
        refuse([0x80, 0x02, 0x4E, 0x2E, 0x00], .pickleInvalid, mentioning: "follow", at: 4)
        refuse([0x80, 0x02, 0x68, 0x07, 0x2E], .pickleInvalid, mentioning: "memo key 7")
        refuse([0x80, 0x02, 0x8B, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E], .pickleInvalid, mentioning: "negative length")
        refuse([0x80, 0x02, 0x58, 0x02, 0, 0, 0, 0xC3, 0x28, 0x2E], .pickleInvalid, mentioning: "UTF-8")
        refuse([0x80, 0x05, 0x97, 0x2E], .pickleUnsupported, mentioning: "NEXT_BUFFER")
        refuse([0x80, 0x02, 0x82, 0x01, 0x2E], .pickleUnsupported, mentioning: "EXT1")
    }

    @Test func limitsAreConfigurable() {
        let small = PickleReader.Limits(maxDepth: 3)
        refuse([0x80, 0x02, 0x5D, 0x5D, 0x5D, 0x5D, 0x61, 0x61, 0x61, 0x2E], .pickleLimit, limits: small, mentioning: "limit of 3")
        refuse([0x80, 0x02, 0x4E, 0x71, 0x00, 0x71, 0x01, 0x2E], .pickleLimit, limits: .init(maxMemoEntries: 1), mentioning: "memo")
        refuse([0x80, 0x02, 0x4E, 0x4E, 0x30, 0x2E], .pickleLimit, limits: .init(maxStackItems: 1), mentioning: "stack")
        refuse([0x80, 0x02, 0x4E, 0x2E], .pickleLimit, limits: .init(maxInputBytes: 3), mentioning: "exceeds")
    }

    /// Tensor rebuild functions check their arguments (a storage must be a persistent id).
    @Test func tensorRebuildArgumentsAreChecked() {
        var b: [UInt8] = [0x80, 0x02] + P.global("torch._utils", "_rebuild_tensor_v2")
        b += [0x28] + P.unicode("not a storage") + [0x4B, 0, 0x4B, 2, 0x85, 0x4B, 1, 0x85, 0x89, 0x7D, 0x74, 0x52, 0x2E]
        refuse(b, .torchSaveInvalid, mentioning: "persistent id")
    }
}
