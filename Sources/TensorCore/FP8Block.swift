/// Fine-grained (block-scaled) FP8 as the Hub's FP8 releases store it: `float8_e4m3fn` elements with one fp32
/// `scale_inv` per `bh × bw` block of each matrix (partial edge blocks allowed).
///
/// Both directions are bit-exact with torch: dequantization multiplies in fp32 and casts once
/// (`(q.float() * s).to(dtype)`, round to nearest even), quantization follows transformers' `Fp8Quantize`
/// (`scale = 448 / amax`, which torch computes as `(1 / amax) · 448`, `scale_inv = 1 / scale`, `clamp(w * scale, ±448)` cast to e4m3fn, RNE).
public enum FP8Block {
    /// The largest finite `float8_e4m3fn` value.
    public static let maxFinite: Float = 448

    /// The value of one `float8_e4m3fn` byte (no infinities; `S.1111.111` is NaN).
    @inline(__always) public static func e4m3ToFloat(_ b: UInt8) -> Float {
        let sign: Float = b & 0x80 != 0 ? -1 : 1
        let e = Int((b >> 3) & 0x0F), m = Float(b & 0x07)
        if e == 0x0F && b & 0x07 == 0x07 { return .nan }
        if e == 0 { return sign * m * 0x1p-9 }  // subnormal: m/8 · 2^-6
        return sign * (1 + m / 8) * Float(sign: .plus, exponent: e - 7, significand: 1)
    }

    /// `float8_e4m3fn` byte nearest to `f` (ties to even); values beyond ±448 are expected to be clamped
    /// by the caller (torch's cast of an out-of-range value is NaN; quantization clamps first).
    public static func floatToE4M3(_ f: Float) -> UInt8 {
        if f.isNaN { return 0x7F }
        let sign: UInt8 = f.sign == .minus ? 0x80 : 0
        let a = abs(f)
        if a >= 464 { return sign | 0x7F }  // rounds past 448: NaN, as torch
        // Every e4m3fn value is k · 2^(e-10) for its binade; round `a` on that grid with ties to even.
        let exp = a < 0x1p-6 ? -6 : Int(a.exponent)
        let quantum = Float(sign: .plus, exponent: exp - 3, significand: 1)
        let k = (a / quantum).rounded(.toNearestOrEven)  // exact: a / 2^n
        let v = k * quantum
        if v == 0 { return sign }
        if v < 0x1p-6 { return sign | UInt8(Int(k)) }  // subnormal: k eighths of 2^-6
        let e = Int(v.exponent), m = Int((v / Float(sign: .plus, exponent: e, significand: 1) - 1) * 8)
        return sign | UInt8((e + 7) << 3 | m)
    }

    /// The values of all 256 bytes, for decoding in bulk.
    public static let decodeTable: [Float] = (0...255).map { e4m3ToFloat(UInt8($0)) }

    /// A block's quantization scale and its stored inverse, from the block's largest magnitude: torch
    /// evaluates the Python scalar `448 / amax` as `amax.reciprocal() * 448` (two fp32 roundings, not one
    /// division), and `1.0 / scale` as `scale.reciprocal()`. An all-zero block gets scale 1.
    @inline(__always) public static func scales(amax: Float) -> (scale: Float, inverse: Float) {
        let scale: Float = amax > 0 ? (1 / amax) * maxFinite : 1
        return (scale, 1 / scale)
    }

    /// One element quantized with its block's scale: `clamp(w · scale, ±448)` cast to e4m3fn.
    @inline(__always) public static func quantize(_ w: Float, scale: Float) -> UInt8 {
        floatToE4M3(min(max(w * scale, -maxFinite), maxFinite))
    }

    /// Number of blocks along an axis of `n` elements.
    public static func blocks(_ n: Int, _ b: Int) -> Int { (n + b - 1) / b }

    /// Dequantizes one `rows × cols` matrix into fp32 values.
    public static func dequantize(_ q: UnsafeBufferPointer<UInt8>, scales: UnsafeBufferPointer<Float>, rows: Int, cols: Int,
                                  block: (Int, Int)) -> [Float] {
        let sc = blocks(cols, block.1)
        var out = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            for j in 0..<cols {
                out[i * cols + j] = e4m3ToFloat(q[i * cols + j]) * scales[(i / block.0) * sc + j / block.1]
            }
        }
        return out
    }

    /// Quantizes one `rows × cols` fp32 matrix: the e4m3fn bytes and the `scale_inv` grid
    /// `[blocks(rows), blocks(cols)]`.
    public static func quantize(_ w: UnsafeBufferPointer<Float>, rows: Int, cols: Int, block: (Int, Int)) -> (q: [UInt8], scaleInv: [Float]) {
        let br = blocks(rows, block.0), bc = blocks(cols, block.1)
        var q = [UInt8](repeating: 0, count: rows * cols)
        var inv = [Float](repeating: 1, count: br * bc)
        for bi in 0..<br {
            for bj in 0..<bc {
                let r = (bi * block.0)..<min(rows, (bi + 1) * block.0), c = (bj * block.1)..<min(cols, (bj + 1) * block.1)
                var amax: Float = 0
                for i in r { for j in c { amax = max(amax, abs(w[i * cols + j])) } }
                let (scale, inverse) = scales(amax: amax)
                inv[bi * bc + bj] = inverse
                for i in r {
                    for j in c { q[i * cols + j] = quantize(w[i * cols + j], scale: scale) }
                }
            }
        }
        return (q, inv)
    }
}
