/// Bicubic resampling of 8-bit interleaved images, bit-exact with Pillow's `Image.resize(…, BICUBIC)`
/// (what transformers' PIL-backend image processor calls): a = −0.5 cubic convolution whose support grows
/// with the downscale factor (antialiasing), weights normalised per output pixel and turned into 22-bit
/// fixed point, a horizontal pass then a vertical pass, each rounding and clipping to 8 bits.
public enum BicubicResize {
    static let precisionBits = 22

    static func cubic(_ x: Double) -> Double {
        let a = -0.5
        let x = abs(x)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// One axis' taps: for each output index the first input index, the tap count, and `ksize` fixed-point
    /// weights (zero past the count).
    struct Taps {
        var first: [Int]
        var count: [Int]
        var ksize: Int
        var weights: [Int]

        init(inSize: Int, outSize: Int) {
            let scale = Double(inSize) / Double(outSize)
            let filterScale = max(scale, 1)
            let support = 2 * filterScale
            ksize = Int(support.rounded(.up)) * 2 + 1
            first = [Int](repeating: 0, count: outSize)
            count = [Int](repeating: 0, count: outSize)
            weights = [Int](repeating: 0, count: outSize * ksize)
            var k = [Double](repeating: 0, count: ksize)
            for xx in 0..<outSize {
                let center = (Double(xx) + 0.5) * scale
                let ss = 1 / filterScale
                let xmin = max(0, Int(center - support + 0.5))          // Int() truncates toward zero, as C's cast
                let xmax = min(inSize, Int(center + support + 0.5)) - xmin
                var ww = 0.0
                for x in 0..<xmax {
                    k[x] = cubic((Double(x + xmin) - center + 0.5) * ss)
                    ww += k[x]
                }
                for x in 0..<xmax {
                    let w = ww != 0 ? k[x] / ww : k[x]
                    let scaled = w * Double(1 << BicubicResize.precisionBits)
                    weights[xx * ksize + x] = Int(w < 0 ? -0.5 + scaled : 0.5 + scaled)
                }
                first[xx] = xmin
                count[xx] = xmax
            }
        }
    }

    @inline(__always) static func clip8(_ sum: Int) -> UInt8 {
        UInt8(clamping: sum >> precisionBits)
    }

    /// Resizes `channels`-interleaved 8-bit pixels from inHeight×inWidth to outHeight×outWidth.
    ///
    /// Pass order matters to the last bit (each pass rounds to 8 bits). Pillow 13 (the interop venv's; its
    /// pull request 9549) runs the vertical pass first when the height shrinks by more than twice as many
    /// pixels as the width does, and the horizontal pass first otherwise (always, before Pillow 13). The
    /// rule was read off Pillow 13's output over thousands of size pairs (Tests/Interop/test_images.py
    /// checks it on every run).
    public static func resize(_ pixels: [UInt8], height inHeight: Int, width inWidth: Int, channels: Int,
                              toHeight outHeight: Int, width outWidth: Int) -> [UInt8] {
        precondition(pixels.count == inHeight * inWidth * channels && outHeight > 0 && outWidth > 0)
        if inHeight == outHeight && inWidth == outWidth { return pixels }
        let verticalFirst = outHeight < inHeight && inHeight - outHeight > 2 * (inWidth - outWidth)
        if verticalFirst {
            let v = vertical(pixels, height: inHeight, width: inWidth, channels: channels, to: outHeight)
            return horizontal(v, height: outHeight, width: inWidth, channels: channels, to: outWidth)
        }
        let h = horizontal(pixels, height: inHeight, width: inWidth, channels: channels, to: outWidth)
        return vertical(h, height: inHeight, width: outWidth, channels: channels, to: outHeight)
    }

    static func horizontal(_ image: [UInt8], height: Int, width inWidth: Int, channels: Int, to outWidth: Int) -> [UInt8] {
        if outWidth == inWidth { return image }
        let half = 1 << (precisionBits - 1)
        let taps = Taps(inSize: inWidth, outSize: outWidth)
        var out = [UInt8](repeating: 0, count: height * outWidth * channels)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let row = y * inWidth * channels
                    for xx in 0..<outWidth {
                        let x0 = taps.first[xx], wbase = xx * taps.ksize
                        for c in 0..<channels {
                            var sum = half
                            for x in 0..<taps.count[xx] { sum += Int(src[row + (x0 + x) * channels + c]) * taps.weights[wbase + x] }
                            dst[(y * outWidth + xx) * channels + c] = clip8(sum)
                        }
                    }
                }
            }
        }
        return out
    }

    static func vertical(_ image: [UInt8], height inHeight: Int, width: Int, channels: Int, to outHeight: Int) -> [UInt8] {
        if outHeight == inHeight { return image }
        let half = 1 << (precisionBits - 1)
        let taps = Taps(inSize: inHeight, outSize: outHeight)
        let rowLength = width * channels
        var out = [UInt8](repeating: 0, count: outHeight * rowLength)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for yy in 0..<outHeight {
                    let y0 = taps.first[yy], wbase = yy * taps.ksize
                    for i in 0..<rowLength {
                        var sum = half
                        for y in 0..<taps.count[yy] { sum += Int(src[(y0 + y) * rowLength + i]) * taps.weights[wbase + y] }
                        dst[yy * rowLength + i] = clip8(sum)
                    }
                }
            }
        }
        return out
    }
}
