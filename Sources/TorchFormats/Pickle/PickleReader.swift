import Foundation
import TensorCore

/// A restricted pickle reader for protocols 0–5 that never executes anything.
///
/// It runs the pickle machine over an explicit opcode enum. GLOBAL/STACK_GLOBAL must name an
/// allowlisted global (`PickleAllowlist`); REDUCE/NEWOBJ/BUILD on those only build values. Limits on
/// nesting, memo size, stack size and total items make hostile input fail with a typed error that
/// names the limit and the byte offset, never a crash or a hang.
public struct PickleReader {
    /// Safety limits. The defaults admit the largest real checkpoints' metadata by a wide margin.
    public struct Limits: Sendable {
        /// Deepest nesting of containers (and of MARKs).
        public var maxDepth: Int
        /// Most memo entries.
        public var maxMemoEntries: Int
        /// Most values in the decoded tree, counting every repetition of a memo-shared value.
        public var maxItems: Int
        /// Most entries on the machine's stack at once.
        public var maxStackItems: Int
        /// Largest pickle accepted.
        public var maxInputBytes: Int

        public init(maxDepth: Int = TensorCore.Limits.pickleDepth, maxMemoEntries: Int = TensorCore.Limits.pickleMemoEntries,
                    maxItems: Int = TensorCore.Limits.pickleItems, maxStackItems: Int = TensorCore.Limits.pickleStackItems,
                    maxInputBytes: Int = TensorCore.Limits.pickleBytes) {
            self.maxDepth = maxDepth
            self.maxMemoEntries = maxMemoEntries
            self.maxItems = maxItems
            self.maxStackItems = maxStackItems
            self.maxInputBytes = maxInputBytes
        }
    }

    public var limits: Limits
    public var allowlist: PickleAllowlist

    public init(limits: Limits = Limits(), allowlist: PickleAllowlist = .standard) {
        self.limits = limits
        self.allowlist = allowlist
    }

    /// Decodes one pickle that must fill `bytes` exactly (nothing may follow STOP).
    /// - Parameters:
    ///   - file: named in errors.
    ///   - baseOffset: the pickle's offset inside `file`, added to error offsets.
    public func read(_ bytes: UnsafeRawBufferPointer, file: String? = nil, baseOffset: Int = 0) throws -> PickleValue {
        guard bytes.count <= limits.maxInputBytes else {
            throw TorchFormatsError(.pickleLimit, "pickle of \(bytes.count) bytes exceeds the limit of \(limits.maxInputBytes) bytes",
                                    file: file, byteOffset: baseOffset)
        }
        var machine = PickleMachine(input: PickleInput(bytes, baseOffset: baseOffset, file: file), limits: limits,
                                    allowlist: allowlist)
        defer { machine.release() }
        return try machine.run()
    }

    public func read(_ bytes: [UInt8], file: String? = nil, baseOffset: Int = 0) throws -> PickleValue {
        try bytes.withUnsafeBytes { try read($0, file: file, baseOffset: baseOffset) }
    }
}
