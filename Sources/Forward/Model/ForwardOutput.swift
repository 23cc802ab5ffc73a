import Foundation
import SafeTensors
import TensorCore

/// The result of a forward pass: logits [1, S, V] (V = the config's true vocabulary).
public struct ForwardOutput {
    /// Row-major [1, S, V].
    public var logits: [Float]
    public var sequenceLength: Int
    public var vocabSize: Int

    public var shape: [Int] { [1, sequenceLength, vocabSize] }

    public init(logits: [Float], sequenceLength: Int, vocabSize: Int) {
        precondition(logits.count == sequenceLength * vocabSize)
        self.logits = logits
        self.sequenceLength = sequenceLength
        self.vocabSize = vocabSize
    }

    /// Writes a safetensors file holding `name` (default `logits`) as F32 [1, S, V], atomically
    /// (temporary file, then rename).
    public func save(to path: String, name: String = "logits") throws {
        try FloatTensorFile.write([(name, shape, logits)], to: path)
    }
}

/// Writes small in-memory tensors as one safetensors file, atomically (temporary file, then rename).
public enum FloatTensorFile {
    /// fp32 arrays.
    public static func write(_ tensors: [(name: String, shape: [Int], values: [Float])], to path: String) throws {
        try write(tensors.map { ($0.name, ArrayTensor(floats: $0.values, shape: $0.shape)) }, to: path)
    }

    static func write(_ tensors: [(String, ArrayTensor)], to path: String) throws {
        let items = tensors.map { SafeTensorsWriter.Item(name: $0.0, source: $0.1) }
        let shards = try SafeTensorsWriter.plan(items, maxShardSize: Int.max)
        let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        FileSystem.remove(tmp)
        do {
            let shard = shards[0]
            let file = try OutputFile(creating: tmp, size: shard.fileSize)
            try file.write(shard.header, at: 0)
            let tasks = shard.items.map { TensorWriteTask(file: file, offset: $0.offset, source: $0.item.source, label: $0.item.name) }
            _ = try WriteExecutor(jobs: 1).run(tasks)
            try file.sync()
            guard rename(tmp, path) == 0 else {
                throw ForwardError(.input, "cannot move the output into place (errno \(errno))", file: path)
            }
        } catch {
            FileSystem.remove(tmp)
            throw error
        }
    }
}

/// A small tensor held in memory (row-major bytes), usable wherever a `TensorSource` is.
final class ArrayTensor: TensorSource {
    let dtype: DType
    let shape: [Int]
    private let storage: UnsafeMutableRawPointer

    init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(Shape.byteCount(shape, dtype) == bytes.count)
        self.dtype = dtype
        self.shape = shape
        storage = .allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { if $0.count > 0 { storage.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }

    convenience init(floats: [Float], shape: [Int]) {
        self.init(dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    convenience init(int64s: [Int], shape: [Int]) {
        let values = int64s.map { Int64($0) }
        self.init(dtype: .i64, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }

    deinit { storage.deallocate() }

    func pieces(covering box: Box) throws -> [TensorPiece] {
        try ContiguousTensor(dtype: dtype, shape: shape, base: UnsafeRawPointer(storage), owner: self).pieces(covering: box)
    }
}
