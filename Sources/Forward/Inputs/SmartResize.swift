import Foundation

/// Qwen2-VL's `smart_resize`: the size an image is resized to so both sides are multiples of `factor`
/// (patch·merge), the pixel count lies in [minPixels, maxPixels] and the aspect ratio is kept as closely
/// as possible. Python's `round` rounds halves to even; the float expressions are evaluated in the same
/// order as transformers', so the result is the same integer pair.
public enum SmartResize {
    public static func size(height: Int, width: Int, factor: Int, minPixels: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        guard height > 0, width > 0, factor > 0 else {
            throw ForwardError(.input, "image size \(height)×\(width) cannot be resized")
        }
        return try fit(height: height, width: width, factor: factor, frames: 1, temporalFactor: 1,
                       minPixels: minPixels, maxPixels: maxPixels, what: "image", fix: "crop the image")
    }

    /// The rounding both resizes share: each side to the nearest multiple of `factor`, then scaled down
    /// (floor) or up (ceil) by one factor β so that frames × height × width lies within the pixel bounds,
    /// with the frame count rounded to a multiple of `temporalFactor` (1 and 1 for an image).
    static func fit(height: Int, width: Int, factor: Int, frames: Int, temporalFactor: Int,
                    minPixels: Int, maxPixels: Int, what: String, fix: String) throws -> (height: Int, width: Int) {
        let ratio = Double(max(height, width)) / Double(min(height, width))
        guard ratio <= 200 else {
            throw ForwardError(.input, "the \(what)'s aspect ratio is \(String(format: "%.1f", ratio)), above the processor's limit of 200",
                               hint: fix)
        }
        let h = Double(height), w = Double(width), f = Double(factor)
        var hBar = Int((h / f).rounded(.toNearestOrEven)) * factor
        var wBar = Int((w / f).rounded(.toNearestOrEven)) * factor
        let tBar = Int((Double(frames) / Double(temporalFactor)).rounded(.toNearestOrEven)) * temporalFactor
        // Double(frames) · h · w is Double(height · width) for one frame: the image formula, unchanged.
        let volume = Double(frames) * h * w
        if tBar * hBar * wBar > maxPixels {
            let beta = (volume / Double(maxPixels)).squareRoot()
            hBar = max(factor, Int((h / beta / f).rounded(.down)) * factor)
            wBar = max(factor, Int((w / beta / f).rounded(.down)) * factor)
        } else if tBar * hBar * wBar < minPixels {
            let beta = (Double(minPixels) / volume).squareRoot()
            hBar = Int((h * beta / f).rounded(.up)) * factor
            wBar = Int((w * beta / f).rounded(.up)) * factor
        }
        return (hBar, wBar)
    }
}

extension SmartResize {
    /// Qwen3-VL's video `smart_resize`: like the image one, but the pixel bounds apply to
    /// frames × height × width (the frame count rounded to a multiple of `temporalFactor`), and sides below
    /// `factor` are first scaled up to it.
    public static func videoSize(frames: Int, height: Int, width: Int, temporalFactor: Int, factor: Int,
                                 minPixels: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        guard height > 0, width > 0, factor > 0, temporalFactor > 0 else {
            throw ForwardError(.input, "video frame size \(height)×\(width) cannot be resized")
        }
        guard frames >= temporalFactor else {
            throw ForwardError(.input, "the video has \(frames) sampled frames, fewer than temporal_patch_size \(temporalFactor)",
                               hint: "give more frames")
        }
        var height = height, width = width
        if height < factor || width < factor {
            let scale = max(Double(factor) / Double(height), Double(factor) / Double(width))
            height = Int(Double(height) * scale)
            width = Int(Double(width) * scale)
        }
        return try fit(height: height, width: width, factor: factor, frames: frames, temporalFactor: temporalFactor,
                       minPixels: minPixels, maxPixels: maxPixels, what: "video", fix: "crop the frames")
    }
}
