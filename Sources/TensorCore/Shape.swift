/// Arithmetic on tensor shapes with overflow checks. Shapes come from untrusted headers, so every
/// product is checked: a hostile header must produce an error, never a trap or a wrapped value.
public enum Shape {
    /// The number of elements, or nil when the product overflows `Int`.
    public static func elementCount(_ dims: [Int]) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = p
        }
        return n
    }

    /// The number of bytes for `dims` elements of `dtype`, or nil on overflow or a partial byte.
    public static func byteCount(_ dims: [Int], _ dtype: DType) -> Int? {
        guard let n = elementCount(dims) else { return nil }
        let (bits, o) = n.multipliedReportingOverflow(by: dtype.bitSize)
        if o || bits % 8 != 0 { return nil }
        return bits / 8
    }

    /// Row-major strides, in elements.
    public static func rowMajorStrides(_ dims: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: dims.count)
        var s = 1
        for i in stride(from: dims.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= Swift.max(dims[i], 1)
        }
        return strides
    }

    /// True when `strides` lay out `dims` row-major and contiguous, as torch's `is_contiguous` decides:
    /// unit axes may have any stride, and so may every axis of an empty tensor (no element is addressed).
    public static func isRowMajor(_ dims: [Int], strides: [Int]) -> Bool {
        if dims.contains(0) { return true }
        var expect = 1
        for i in stride(from: dims.count - 1, through: 0, by: -1) where dims[i] != 1 {
            if strides[i] != expect { return false }
            expect *= dims[i]
        }
        return true
    }

    /// `[a, b, c]` as text.
    public static func describe(_ dims: [Int]) -> String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }
}
