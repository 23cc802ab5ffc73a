import TensorCore

/// "This region of the Megatron parameter is that region of that HF tensor."
///
/// A transform is a list of these. Import reads them left to right (the Megatron parameter is composed
/// from HF regions); export reads the same list right to left (each HF tensor is composed from Megatron
/// regions). So every transform's inverse is its own list, and a round trip is exact by construction.
public struct Correspondence: Equatable, Sendable {
    /// The region of the Megatron parameter.
    public var megatronBox: Box
    /// Which HF source (`q`, `gate`, ... or "").
    public var role: String
    /// Where that region starts in the HF tensor (one coordinate per HF axis).
    public var hfOrigin: [Int]
    /// For each Megatron axis, the HF axis it runs along (nil for a unit axis the HF tensor lacks).
    public var axisMap: [Int?]

    public init(megatronBox: Box, role: String, hfOrigin: [Int], axisMap: [Int?]) {
        self.megatronBox = megatronBox
        self.role = role
        self.hfOrigin = hfOrigin
        self.axisMap = axisMap
    }

    /// The region of the HF tensor this correspondence covers.
    public var hfBox: Box {
        var sizes = [Int](repeating: 1, count: hfOrigin.count)
        for (i, j) in axisMap.enumerated() { if let j { sizes[j] = megatronBox.sizes[i] } }
        return Box(offsets: hfOrigin, sizes: sizes)
    }

    /// The same correspondence seen from the HF side: an axis map from HF axes to Megatron axes.
    public var inverseAxisMap: [Int?] {
        var inv = [Int?](repeating: nil, count: hfOrigin.count)
        for (i, j) in axisMap.enumerated() { if let j { inv[j] = i } }
        return inv
    }
}

/// What a transform produces for one Megatron parameter.
public struct TransformOutput: Sendable {
    public var megatronShape: [Int]
    public var parts: [Correspondence]
    /// Regions of the Megatron parameter with no HF source: zero padding (vocab rows past the HF vocab).
    public var zeroBoxes: [Box]
}

/// Whether a fused HF expert tensor is stored hub-style (input-major, `x @ W`: [E,H,2I] / [E,I,H]) or
/// transformers-5 style (output-major like `nn.Linear`: [E,2I,H] / [E,H,I]).
public enum FusedOrientation: String, Sendable {
    case hub
    case v5
}
