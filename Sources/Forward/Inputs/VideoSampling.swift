import Foundation

/// Which frames of a clip Qwen3-VL's video processor keeps, and the times it writes for them.
public enum VideoSampling {
    /// The frame indices kept from `total` frames recorded at `fps`, as `Qwen3VLVideoProcessor.sample_frames`
    /// picks them: by the config's `fps`, int(total / fps · target) clamped to [min_frames, max_frames] and to
    /// `total`; or `num_frames`; or (neither) every frame, at least min_frames and at most max_frames; then
    /// numpy's linspace(0, total − 1, n) rounded half to even. Without `do_sample_frames`, every frame.
    public static func indices(total: Int, fps: Double, config: VideoProcessorConfig) throws -> [Int] {
        guard total > 0 else { throw ForwardError(.input, "the video has no frames") }
        guard fps.isFinite, fps > 0 else { throw ForwardError(.input, "the video's frame rate must be a positive number, not \(fps)") }
        guard config.sampleFrames else { return Array(0..<total) }
        let n: Int
        if let fixed = config.numFrames {
            n = fixed
        } else if let target = config.fps {
            let wanted = (Double(total) / fps * target).rounded(.towardZero)
            guard wanted.isFinite, wanted < Double(Int32.max) else {
                throw ForwardError(.input, "--fps \(fps) with \(total) frames asks for \(wanted) frames")
            }
            n = min(max(Int(wanted), config.minFrames), config.maxFrames, total)
        } else {
            n = min(max(total, config.minFrames), config.maxFrames)
        }
        guard n > 0 else { throw ForwardError(.input, "the video processor would sample no frames") }
        return linspaceRounded(stop: total - 1, count: n)
    }

    /// numpy's `linspace(0, stop, count).round()`: i·(stop / (count − 1)), the last exactly `stop`.
    static func linspaceRounded(stop: Int, count: Int) -> [Int] {
        guard count > 1 else { return [0] }
        let step = Double(stop) / Double(count - 1)
        return (0..<count).map { i in
            i == count - 1 ? stop : Int((Double(i) * step).rounded(.toNearestOrEven))
        }
    }

    /// Seconds of each temporal patch, as `Qwen3VLProcessor._calculate_timestamps`: the indices padded with
    /// the last up to a multiple of `temporalPatchSize`, each divided by `fps`, and the first and last of
    /// every group averaged.
    public static func timestamps(indices: [Int], fps: Double, temporalPatchSize tp: Int) -> [Double] {
        var idx = indices
        while idx.count % tp != 0, let last = idx.last { idx.append(last) }
        let seconds = idx.map { Double($0) / fps }
        return stride(from: 0, to: seconds.count, by: tp).map { (seconds[$0] + seconds[$0 + tp - 1]) / 2 }
    }

}
