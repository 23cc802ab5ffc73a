import TensorCore

/// A Megatron parameter reader whose adapted parameters come out merged (`W + (alpha/r)·B·A`); every
/// other parameter is the wrapped reader's. A parameter reads its adapter's A and B besides its own stored
/// tensors, so an adapter the mapping does not reach is left unused and still stops the export.
public final class LoRAMergingReader: MegatronParameterReader {
    public let inner: MegatronParameterReader
    public let adapters: LoRAAdapterSet
    public let alpha: Double?
    public let alphaOverride: Double?
    public let recorded: LoRAScaling.Recorded?
    /// The scaling used, once the first adapter was read.
    public private(set) var scaling: LoRAScaling?

    public init(inner: MegatronParameterReader, adapters: LoRAAdapterSet, recorded: LoRAScaling.Recorded?, alphaOverride: Double?) {
        self.inner = inner
        self.adapters = adapters
        self.recorded = recorded
        self.alphaOverride = alphaOverride
        alpha = alphaOverride ?? recorded?.alpha
    }

    public var path: String { inner.path }
    public var storedTensorNames: [String] { get throws { try inner.storedTensorNames } }
    public func vocabularyRows(of p: MegatronParameter) throws -> Int? { try inner.vocabularyRows(of: p) }
    public func visionLayout(candidates: [(VisionLayout, [MegatronParameter])]) throws -> VisionLayout? {
        try inner.visionLayout(candidates: candidates)
    }

    public func source(of p: MegatronParameter, dtype: DType?) throws -> TensorSource {
        guard let (a, b) = try adapters.tensors(for: p) else { return try inner.source(of: p, dtype: dtype) }
        let base = try inner.source(of: p, dtype: nil)
        let s = try scaling ?? LoRAScaling.resolve(rank: a.shape[0], recorded: recorded, override: alphaOverride, path: adapters.path)
        scaling = s
        return try LoRAMergedTensor(base: base, a: a, b: b, scale: s.scale, dtype: dtype ?? base.dtype)
    }

    public func storedNames(of p: MegatronParameter) throws -> [String] {
        try inner.storedNames(of: p) + adapters.keys(for: p)
    }
}
