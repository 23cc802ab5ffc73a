/// Named tensors that can be opened one at a time: a safetensors checkpoint, a torch_dist checkpoint's
/// global tensors, a file of reference tensors.
public protocol TensorStore: AnyObject {
    /// Every tensor name.
    var tensorNames: [String] { get }
    /// A lazy view of one tensor.
    func tensorSource(_ name: String) throws -> TensorSource
    /// Where the tensors come from (a folder or file), for error messages.
    var origin: String? { get }
}

extension TensorStore {
    public var origin: String? { nil }
}
