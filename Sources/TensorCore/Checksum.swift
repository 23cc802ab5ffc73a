import CXXHash

/// Streaming XXH3-64 over tensor bytes (libxxhash). Used by `diff` and the integrity manifests: two
/// tensors are equal when name, dtype, shape and this hash of their row-major bytes are equal.
public final class XXH3Hasher {
    private let state: OpaquePointer

    public init() {
        state = XXH3_createState()
        XXH3_64bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let p = bytes.baseAddress, bytes.count > 0 else { return }
        XXH3_64bits_update(state, p, bytes.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public var digest: UInt64 { XXH3_64bits_digest(state) }

    /// XXH3-64 of one buffer.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let p = bytes.baseAddress, bytes.count > 0 else { return XXH3_64bits(nil, 0) }
        return XXH3_64bits(p, bytes.count)
    }

    public static func hex(_ h: UInt64) -> String {
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
