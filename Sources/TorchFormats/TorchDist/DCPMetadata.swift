import TensorCore

/// The content of a torch.distributed.checkpoint `.metadata` file (`torch.distributed.checkpoint.metadata.Metadata`,
/// torch 2.5–2.13, including MCore 0.15's `MCoreMetadata` subclass): what every key is, how tensors are
/// chunked, and where each item's bytes are (format reference §1.7).
public struct DCPMetadata {
    /// `TensorProperties`: pickled as the 5-tuple `(dtype, layout, requires_grad, memory_format, pin_memory)`.
    public struct TensorProperties: Equatable, Sendable {
        public var dtype: DType
        /// `torch.strided` (other layouts are refused when reading).
        public var layout: String
        public var requiresGrad: Bool
        /// `_MEM_FORMAT_ENCODING` value: 0 contiguous, 1 channels_last, 2 preserve.
        public var memoryFormat: Int
        public var pinMemory: Bool

        public init(dtype: DType, layout: String = "torch.strided", requiresGrad: Bool = false, memoryFormat: Int = 0,
                    pinMemory: Bool = false) {
            self.dtype = dtype
            self.layout = layout
            self.requiresGrad = requiresGrad
            self.memoryFormat = memoryFormat
            self.pinMemory = pinMemory
        }
    }

    /// `TensorStorageMetadata`: a global tensor and the chunks it was saved in.
    public struct TensorEntry: Equatable, Sendable {
        public var properties: TensorProperties
        /// The global shape.
        public var size: [Int]
        /// Each chunk's offsets and sizes in the global tensor (`ChunkStorageMetadata`).
        public var chunks: [Box]

        public init(properties: TensorProperties, size: [Int], chunks: [Box]) {
            self.properties = properties
            self.size = size
            self.chunks = chunks
        }

        public var dtype: DType { properties.dtype }
    }

    /// A key's kind: a chunked tensor or an opaque byte item (`BytesStorageMetadata`: ShardedObjects,
    /// `_extra_state`, `common_state`).
    public enum Entry: Equatable, Sendable {
        case tensor(TensorEntry)
        case bytes
    }

    /// `MetadataIndex`: identifies an item by key and, for tensor chunks, the chunk's offsets.
    /// (`index` is only a lookup hint in torch and takes no part in equality.)
    public struct StorageIndex: Hashable, Sendable, CustomStringConvertible {
        public var fqn: String
        public var offset: [Int]?

        public init(fqn: String, offset: [Int]? = nil) {
            self.fqn = fqn
            self.offset = offset
        }

        public var description: String { offset.map { "\(fqn) @ \(Shape.describe($0))" } ?? fqn }
    }

    /// `filesystem._StorageInfo`: where an item's bytes are.
    public struct StorageInfo: Equatable, Sendable {
        /// A file name in the checkpoint folder.
        public var relativePath: String
        public var offset: Int
        public var length: Int

        public init(relativePath: String, offset: Int, length: Int) {
            self.relativePath = relativePath
            self.offset = offset
            self.length = length
        }
    }

    /// `StorageMeta` (informational: ids of the save).
    public struct StorageMeta: Equatable, Sendable {
        public var checkpointID: String?
        public var saveID: String?
        public var loadID: String?
        public var modules: [String]

        public init(checkpointID: String? = nil, saveID: String? = nil, loadID: String? = nil, modules: [String] = []) {
            self.checkpointID = checkpointID
            self.saveID = saveID
            self.loadID = loadID
            self.modules = modules
        }
    }

    /// The pickled class (`torch.distributed.checkpoint.metadata.Metadata`, or MCore 0.15's `MCoreMetadata`).
    public var className: String
    /// Every key in file order with its kind.
    public var entries: [(key: String, entry: Entry)]
    /// Storage locations in file order.
    public var storage: [(index: StorageIndex, info: StorageInfo)]
    public var storageMeta: StorageMeta?
    /// `"1.0.0"` from torch 2.9 on; nil when absent.
    public var version: String?

    public static let defaultClassName = "torch.distributed.checkpoint.metadata.Metadata"

    public init(className: String = DCPMetadata.defaultClassName, entries: [(key: String, entry: Entry)],
                storage: [(index: StorageIndex, info: StorageInfo)], storageMeta: StorageMeta? = nil, version: String? = "1.0.0") {
        self.className = className
        self.entries = entries
        self.storage = storage
        self.storageMeta = storageMeta
        self.version = version
    }

    /// Tensor keys with their entries.
    public var tensors: [(key: String, entry: TensorEntry)] {
        entries.compactMap { e in if case let .tensor(t) = e.entry { return (e.key, t) }; return nil }
    }

    /// Byte item keys.
    public var byteKeys: [String] {
        entries.compactMap { e in if case .bytes = e.entry { return e.key }; return nil }
    }
}
