/// Lists the opcodes of a pickle without running it (like `pickletools.genops`): used to check that
/// written pickles only use what torch's `weights_only` unpickler accepts.
enum PickleOpcodeScan {
    static func opcodes(_ bytes: [UInt8]) throws -> [PickleOpcode] {
        try bytes.withUnsafeBytes { raw in
            var input = PickleInput(raw, baseOffset: 0, file: nil)
            var out = [PickleOpcode]()
            while !input.isAtEnd {
                let at = input.position
                let b = try input.byte("an opcode")
                guard let op = PickleOpcode(rawValue: b) else {
                    throw TorchFormatsError(.pickleInvalid, "unknown opcode 0x\(String(b, radix: 16))", byteOffset: at)
                }
                out.append(op)
                switch op {
                case .proto, .binInt1, .binGet, .binPut, .ext1: _ = try input.take(1, op.name)
                case .binInt2, .ext2: _ = try input.take(2, op.name)
                case .binInt, .longBinGet, .longBinPut, .ext4: _ = try input.take(4, op.name)
                case .binFloat, .frame: _ = try input.take(8, op.name)
                case .long1, .shortBinString, .shortBinBytes, .shortBinUnicode: _ = try input.take(Int(try input.byte(op.name)), op.name)
                case .long4, .binString: _ = try input.take(try input.i32(op.name), op.name)
                case .binUnicode, .binBytes: _ = try input.take(try input.u32(op.name), op.name)
                case .binUnicode8, .binBytes8, .byteArray8: _ = try input.take(try input.u64(op.name), op.name)
                case .int, .long, .float, .string, .unicode, .get, .put, .persID: _ = try input.line(op.name)
                case .global, .inst:
                    _ = try input.line(op.name)
                    _ = try input.line(op.name)
                default: break
                }
                if op == .stop { break }
            }
            return out
        }
    }

    /// The opcodes torch's `weights_only` unpickler accepts (format reference §2.4).
    static let weightsOnly: Set<PickleOpcode> = [
        .proto, .stop, .global, .newObj, .reduce, .build, .append, .appends, .setItem, .setItems, .mark, .tuple, .tuple1, .tuple2,
        .tuple3, .emptyTuple, .emptyList, .emptyDict, .emptySet, .none, .newTrue, .newFalse, .binInt, .binInt1, .binInt2, .long1,
        .binFloat, .binUnicode, .shortBinString, .binPersID, .binGet, .longBinGet, .binPut, .longBinPut,
    ]
}
