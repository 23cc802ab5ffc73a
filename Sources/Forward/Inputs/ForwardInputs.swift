import SafeTensors
import TensorCore

/// One prompt for the forward pass (batch size 1): token ids and, optionally, images as the Qwen2-VL
/// image processor produces them.
public struct ForwardInputs {
    /// Token ids, [S].
    public var inputIds: [Int]
    /// Flattened image patches, [P, C·T·P·P], rows in spatial-merge-block order; nil without images.
    public var pixelValues: [Float]?
    /// (t, h, w) in patches, one row per image.
    public var imageGridTHW: [[Int]]
    /// Flattened video patches (`pixel_values_videos`), [P, C·T·P·P], rows in (temporal patch, merge block)
    /// order; nil without videos.
    public var pixelValuesVideos: [Float]?
    /// (t, h, w) in patches, one row per video; each of its t temporal patches is one run of
    /// `<|video_pad|>` tokens in the prompt.
    public var videoGridTHW: [[Int]]

    public init(inputIds: [Int], pixelValues: [Float]? = nil, imageGridTHW: [[Int]] = [],
                pixelValuesVideos: [Float]? = nil, videoGridTHW: [[Int]] = []) {
        self.inputIds = inputIds
        self.pixelValues = pixelValues
        self.imageGridTHW = imageGridTHW
        self.pixelValuesVideos = pixelValuesVideos
        self.videoGridTHW = videoGridTHW
    }

    /// Loads `<prefix>input_ids` (I64/I32 [1, S] or [S]), and when present `<prefix>pixel_values` (float [P, K])
    /// with `<prefix>image_grid_thw` (int [n, 3]) from a safetensors file. A prefix such as `image.` selects one
    /// prompt of the oracle's reference.safetensors.
    public init(path: String, prefix: String = "") throws {
        let file = try SafeTensorsCheckpoint(path: path)
        func source(_ name: String) throws -> ContiguousTensor? {
            file.contains(prefix + name) ? try file.tensor(prefix + name) : nil
        }
        guard let ids = try source("input_ids") else {
            throw ForwardError(.input, "inputs have no input_ids tensor", file: path, key: prefix + "input_ids")
        }
        guard ids.shape.count == 1 || (ids.shape.count == 2 && ids.shape[0] == 1) else {
            throw ForwardError(.input, "input_ids has shape \(Shape.describe(ids.shape)); expected [1, S] (batch size 1)",
                               file: path, key: prefix + "input_ids")
        }
        inputIds = try Self.integers(ids, key: prefix + "input_ids", file: path)
        (pixelValues, imageGridTHW) = try Self.patches(file, path: path, values: prefix + "pixel_values", grid: prefix + "image_grid_thw")
        (pixelValuesVideos, videoGridTHW) = try Self.patches(file, path: path, values: prefix + "pixel_values_videos",
                                                             grid: prefix + "video_grid_thw")
    }

    /// A float [patches, C·T·P·P] tensor `values` and its int [n, 3] grid `grid`, when present; checked
    /// against each other.
    static func patches(_ file: SafeTensorsCheckpoint, path: String, values: String, grid gridKey: String) throws -> ([Float]?, [[Int]]) {
        guard file.contains(values) else { return (nil, []) }
        let pv = try file.tensor(values)
        guard pv.shape.count == 2, pv.dtype.isConvertibleFloat else {
            throw ForwardError(.input, "\(values) must be a float [patches, C·T·P·P] tensor, found \(pv.dtype) \(Shape.describe(pv.shape))",
                               file: path, key: values)
        }
        guard file.contains(gridKey) else {
            throw ForwardError(.input, "\(values) without \(gridKey)", file: path, key: gridKey)
        }
        let grid = try file.tensor(gridKey)
        guard grid.shape.count == 2, grid.shape[1] == 3 else {
            throw ForwardError(.input, "\(gridKey) has shape \(Shape.describe(grid.shape)); expected [n, 3]", file: path, key: gridKey)
        }
        let flat = try Self.integers(grid, key: gridKey, file: path)
        // Range-checked before any arithmetic on them (positions, patch counts, loops over the grid).
        if let bad = flat.first(where: { !(1...Limits.imageGridSide).contains($0) }) {
            throw ForwardError(.input, "\(gridKey) holds \(bad), outside 1…\(Limits.imageGridSide)", file: path,
                               key: gridKey, hint: "each entry counts patches along time, height or width")
        }
        let grids = stride(from: 0, to: flat.count, by: 3).map { Array(flat[$0..<($0 + 3)]) }
        var patches = 0   // stops growing past the rows, so the sum cannot overflow
        for g in grids where patches <= pv.shape[0] { patches += g[0] * g[1] * g[2] }
        guard patches == pv.shape[0] else {
            throw ForwardError(.input, "\(gridKey) describes \(patches) patches but \(values) has \(pv.shape[0]) rows",
                               file: path, key: values)
        }
        return (try pv.readFloats(), grids)
    }

    /// An integer tensor's elements (I64, I32, I16, I8, U8).
    static func integers(_ t: ContiguousTensor, key: String, file: String) throws -> [Int] {
        let bytes = t.rawBytes
        let n = t.elementCount
        switch t.dtype {
        case .i64: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .i32: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .i16: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        case .i8: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0, as: Int8.self)) }
        case .u8: return (0..<n).map { Int(bytes[$0]) }
        default:
            throw ForwardError(.input, "expected an integer tensor, found \(t.dtype)", file: file, key: key)
        }
    }
}

extension ForwardInputs {
    /// Writes `<prefix>input_ids` (I64 [1, S]) and, with images, `<prefix>pixel_values` (F32) and
    /// `<prefix>image_grid_thw` (I64 [n, 3]), with videos `<prefix>pixel_values_videos` and
    /// `<prefix>video_grid_thw`: the layout `init(path:prefix:)` reads, so built-in inputs can be saved and
    /// fed to another runtime.
    public func save(to path: String, prefix: String = "") throws {
        var tensors: [(String, ArrayTensor)] = [(prefix + "input_ids", ArrayTensor(int64s: inputIds, shape: [1, inputIds.count]))]
        for (values, grids, name, gridName) in [(pixelValues, imageGridTHW, "pixel_values", "image_grid_thw"),
                                                (pixelValuesVideos, videoGridTHW, "pixel_values_videos", "video_grid_thw")] {
            guard let values else { continue }
            let patches = grids.reduce(0) { $0 + $1.reduce(1, *) }
            guard patches > 0, values.count % patches == 0, grids.allSatisfy({ $0.count == 3 }) else {
                throw ForwardError(.input, "\(name) (\(values.count) values) do not fit \(gridName) \(grids)")
            }
            tensors.append((prefix + name, ArrayTensor(floats: values, shape: [patches, values.count / patches])))
            tensors.append((prefix + gridName, ArrayTensor(int64s: grids.flatMap { $0 }, shape: [grids.count, 3])))
        }
        try FloatTensorFile.write(tensors, to: path)
    }
}
