import TensorCore

/// What a torch_dist writer puts in each data file: byte items first, then tensor chunks, as torch and
/// MCore order them (format reference §1.4). Folder-level choices (keys, ranks, chunking, iteration
/// folder, atomic rename) belong to the caller; this describes bytes only.
public struct TorchDistWritePlan {
    /// A ShardedObject: `key` is its unique key (`…/shard_0_4`), `payload` a complete torch.save archive
    /// (e.g. `MegatronFiles.extraStatePayload()`).
    public struct BytesItem {
        public var key: String
        public var payload: [UInt8]

        public init(key: String, payload: [UInt8]) {
            self.key = key
            self.payload = payload
        }
    }

    /// One chunk of a global tensor: the box `offsets`/`sizes` of the global tensor `key`, whose bytes are
    /// `sourceBox` of `source` converted to `dtype`. `sourceBox` must have the chunk's elements in the
    /// same row-major order (its sizes may differ from `sizes` only by axes of size 1).
    public struct TensorChunk {
        public var key: String
        public var globalShape: [Int]
        public var dtype: DType
        public var offsets: [Int]
        public var sizes: [Int]
        public var source: TensorSource
        public var sourceBox: Box

        public init(key: String, globalShape: [Int], dtype: DType, offsets: [Int], sizes: [Int], source: TensorSource, sourceBox: Box? = nil) {
            self.key = key
            self.globalShape = globalShape
            self.dtype = dtype
            self.offsets = offsets
            self.sizes = sizes
            self.source = source
            self.sourceBox = sourceBox ?? Box(shape: source.shape)
        }

        public var box: Box { Box(offsets: offsets, sizes: sizes) }
    }

    /// One data file (`__{rank}_0.distcp`).
    public struct FilePlan {
        public var name: String
        public var bytesItems: [BytesItem]
        public var tensorChunks: [TensorChunk]

        public init(name: String, bytesItems: [BytesItem] = [], tensorChunks: [TensorChunk] = []) {
            self.name = name
            self.bytesItems = bytesItems
            self.tensorChunks = tensorChunks
        }
    }

    public var files: [FilePlan]

    public init(files: [FilePlan]) { self.files = files }

    /// The DCP file name for a rank (`__{rank}_{index}.distcp`, MCore's naming; readers never parse it).
    public static func fileName(rank: Int, index: Int = 0) -> String { "__\(rank)_\(index).distcp" }

    static let reservedNames: Set<String> = [TorchDistCheckpoint.metadataFileName, TorchDistCheckpoint.configFileName,
                                             TorchDistCheckpoint.commonFileName, ".metadata.tmp"]

    /// Checks the plan: file names, key kinds, shapes and dtypes per key, exact tiling of every tensor.
    /// Returns the metadata entries in plan order.
    public func validate() throws -> [(key: String, entry: DCPMetadata.Entry)] {
        var fileNames = Set<String>()
        var order = [String]()
        var bytesKeys = Set<String>()
        var tensors = [String: DCPMetadata.TensorEntry]()
        func fail(_ message: String, key: String? = nil, file: String? = nil) -> TorchFormatsError {
            TorchFormatsError(.invalidPlan, message, file: file, key: key)
        }
        for f in files {
            guard DCPMetadataParser.isPlainFileName(f.name), !Self.reservedNames.contains(f.name), fileNames.insert(f.name).inserted else {
                throw fail("bad or duplicate data file name '\(f.name)'", file: f.name)
            }
            for b in f.bytesItems {
                guard !b.key.isEmpty, tensors[b.key] == nil, bytesKeys.insert(b.key).inserted else {
                    throw fail("byte item key is empty or used twice", key: b.key, file: f.name)
                }
                order.append(b.key)
            }
            for c in f.tensorChunks {
                try check(c, file: f.name)
                guard !bytesKeys.contains(c.key) else { throw fail("key is both a byte item and a tensor", key: c.key) }
                if var e = tensors[c.key] {
                    guard e.size == c.globalShape, e.dtype == c.dtype else {
                        throw fail("chunks disagree on the global shape or dtype (\(Shape.describe(e.size)) \(e.dtype) vs \(Shape.describe(c.globalShape)) \(c.dtype))",
                                   key: c.key, file: f.name)
                    }
                    e.chunks.append(c.box)
                    tensors[c.key] = e
                } else {
                    tensors[c.key] = DCPMetadata.TensorEntry(properties: DCPMetadata.TensorProperties(dtype: c.dtype), size: c.globalShape,
                                                             chunks: [c.box])
                    order.append(c.key)
                }
            }
        }
        for (key, e) in tensors {
            if let problem = tilingProblem(of: e.chunks, covering: e.size) {
                throw TorchFormatsError(.dcpTiling, problem, key: key, hint: "every element must be written exactly once")
            }
        }
        return order.map { k in (k, tensors[k].map { .tensor($0) } ?? .bytes) }
    }

    private func check(_ c: TensorChunk, file: String) throws {
        func fail(_ message: String) -> TorchFormatsError { TorchFormatsError(.invalidPlan, message, file: file, key: c.key) }
        guard !c.key.isEmpty else { throw fail("tensor key is empty") }
        guard c.offsets.count == c.globalShape.count, c.sizes.count == c.globalShape.count else {
            throw fail("chunk \(Shape.describe(c.offsets))+\(Shape.describe(c.sizes)) does not match the rank of \(Shape.describe(c.globalShape))")
        }
        guard TorchDTypes.torchName(c.dtype) != nil, c.dtype.byteSize != nil else { throw fail("torch cannot store \(c.dtype) tensors") }
        guard c.dtype == c.source.dtype || (c.dtype.isConvertibleFloat && c.source.dtype.isConvertibleFloat) else {
            throw fail("cannot store a \(c.source.dtype) tensor as \(c.dtype)")
        }
        guard c.sourceBox.rank == c.source.shape.count, Box(shape: c.source.shape).contains(c.sourceBox) else {
            throw fail("source region \(c.sourceBox) lies outside the source's shape \(Shape.describe(c.source.shape))")
        }
        guard c.sourceBox.sizes.filter({ $0 != 1 }) == c.sizes.filter({ $0 != 1 }) else {
            throw fail("source region \(c.sourceBox) does not have the chunk's sizes \(Shape.describe(c.sizes))")
        }
    }
}
