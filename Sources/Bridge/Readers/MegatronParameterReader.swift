import TensorCore

/// Gives the tensor of each Megatron parameter from a Megatron checkpoint, whatever its format and layout.
public protocol MegatronParameterReader {
    /// Where the checkpoint is, for errors.
    var path: String { get }
    /// Names of every stored tensor (torch_dist keys, or `rank/name` for legacy files), for accounting.
    var storedTensorNames: [String] { get throws }
    /// The rows of the stored vocabulary (padded vocabularies are cut back to the HF vocabulary on export).
    func vocabularyRows(of parameter: MegatronParameter) throws -> Int?
    /// The vision layout the checkpoint uses, nil when it has no vision tower.
    func visionLayout(candidates: [(VisionLayout, [MegatronParameter])]) throws -> VisionLayout?
    /// The tensor of one parameter. Reading has no side effects: what a plan uses is derived from the plan.
    func source(of parameter: MegatronParameter, dtype: DType?) throws -> TensorSource
    /// The stored tensors one parameter is read from (torch_dist keys, or `rank/name` for legacy files),
    /// copies on other ranks included.
    func storedNames(of parameter: MegatronParameter) throws -> [String]
}

extension MegatronParameterReader {
    /// Stored tensors that none of `parameters` reads, in the reader's order.
    public func unconsumed(by parameters: [MegatronParameter]) throws -> [String] {
        var used = Set<String>()
        for p in parameters { used.formUnion(try storedNames(of: p)) }
        return try storedTensorNames.filter { !used.contains($0) }
    }
}
