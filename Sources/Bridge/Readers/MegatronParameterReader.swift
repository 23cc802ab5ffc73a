import TensorCore

/// Gives the tensor of each Megatron parameter from a Megatron checkpoint, whatever its format and layout.
public protocol MegatronParameterReader {
    /// Where the checkpoint is, for errors.
    var path: String { get }
    /// Names of every stored tensor (torch_dist keys, or `rank/name` for legacy files), for accounting.
    var storedTensorNames: [String] { get }
    /// The rows of the stored vocabulary (padded vocabularies are cut back to the HF vocabulary on export).
    func vocabularyRows(of parameter: MegatronParameter) throws -> Int?
    /// The vision layout the checkpoint uses, nil when it has no vision tower.
    func visionLayout(candidates: [(VisionLayout, [MegatronParameter])]) throws -> VisionLayout?
    /// The tensor of one parameter; records which stored tensors it consumed.
    func source(of parameter: MegatronParameter, dtype: DType?) throws -> TensorSource
    /// Stored tensors that no parameter consumed.
    func unconsumed(by parameters: [MegatronParameter]) -> [String]
}
