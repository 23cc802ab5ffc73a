import TensorCore

extension SafeTensorsCheckpoint: TensorStore {
    public var tensorNames: [String] { names }
    public func tensorSource(_ name: String) throws -> TensorSource { try tensor(name) }
    public var origin: String? { directory }
}
