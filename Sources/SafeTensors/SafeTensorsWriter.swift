import TensorCore

/// Writes tensors as a Hugging Face safetensors checkpoint: size-bounded shards, an index when there is
/// more than one shard, headers padded to 8 bytes with `__metadata__ {"format": "pt"}`.
///
/// Writing streams: each tensor's bytes go from its source (usually a mapped file) to its planned place
/// in the output with positional writes, slab by slab, on several threads.
public struct SafeTensorsWriter {
    /// A tensor to write: its name, the dtype to write it in, and where its bytes come from.
    public struct Item {
        public var name: String
        public var dtype: DType
        public var source: TensorSource

        public init(name: String, dtype: DType? = nil, source: TensorSource) {
            self.name = name
            self.dtype = dtype ?? source.dtype
            self.source = source
        }

        public var shape: [Int] { source.shape }
        public var byteCount: Int { Shape.byteCount(source.shape, dtype) ?? 0 }
    }

    /// One planned output file.
    public struct Shard {
        public var fileName: String
        public var header: [UInt8]
        /// Items in file order with their absolute byte offsets.
        public var items: [(item: Item, offset: Int)]
        public var fileSize: Int
    }

    /// The default shard size, 5 GB (decimal), as transformers uses.
    public static let defaultMaxShardSize = 5_000_000_000

    /// Lays the items out into shards. Items are taken in natural name order (layer 2 before layer 10)
    /// and a new shard starts when the next tensor would push the current one past `maxShardSize`
    /// (a tensor larger than the limit gets a shard of its own). Inside a shard, tensors are ordered
    /// as the reference writer orders them: by descending dtype, then name.
    public static func plan(_ items: [Item], maxShardSize: Int = defaultMaxShardSize) throws -> [Shard] {
        var seen = Set<String>()
        for it in items where !seen.insert(it.name).inserted {
            throw SafeTensorsError(.duplicateKey, "two tensors to write have the same name", key: it.name)
        }
        let ordered = items.sorted { naturalLess($0.name, $1.name) }
        var groups = [[Item]]()
        var current = [Item](), size = 0
        for it in ordered {
            if !current.isEmpty && size + it.byteCount > maxShardSize {
                groups.append(current)
                current = []
                size = 0
            }
            current.append(it)
            size += it.byteCount
        }
        if !current.isEmpty || groups.isEmpty { groups.append(current) }
        let n = groups.count
        return try groups.enumerated().map { gi, group in
            let inFile = group.sorted { a, b in a.dtype != b.dtype ? a.dtype > b.dtype : a.name < b.name }
            let (header, offsets) = try SafeTensorsHeader.encode(inFile.map { ($0.name, $0.dtype, $0.shape) },
                                                                  metadata: ["format": "pt"])
            let name = n == 1 ? "model.safetensors" : "model-\(pad5(gi + 1))-of-\(pad5(n)).safetensors"
            let items = zip(inFile, offsets).map { ($0, header.count + $1) }
            let size = header.count + inFile.reduce(0) { $0 + $1.byteCount }
            return Shard(fileName: name, header: header, items: items, fileSize: size)
        }
    }

    /// The index file for a multi-shard plan.
    public static func indexJSON(_ shards: [Shard]) -> String {
        let total = shards.reduce(0) { $0 + $1.items.reduce(0) { $0 + $1.item.byteCount } }
        var map = [(String, JSONValue)]()
        for s in shards { for (it, _) in s.items { map.append((it.name, .string(s.fileName))) } }
        map.sort { naturalLess($0.0, $1.0) }
        return JSONWriter.write(.object([("metadata", .object([("total_size", .int(total))])), ("weight_map", .object(map))])) + "\n"
    }

    /// Writes `shards` and, when there is more than one, the index into `directory` (normally the temporary
    /// folder of an `AtomicOutputDirectory`).
    public static func write(_ shards: [Shard], into directory: String, executor: WriteExecutor) throws {
        try writeShards(shards, into: directory, executor: executor)
        try writeIndex(shards, into: directory)
    }

    /// Writes the index of a multi-shard plan into `directory` (nothing for a single shard).
    public static func writeIndex(_ shards: [Shard], into directory: String) throws {
        if shards.count > 1 {
            try writeWholeFile(FileSystem.join(directory, SafeTensorsCheckpoint.indexFileName), Array(indexJSON(shards).utf8))
        }
    }

    /// Writes the shard files only (a node of a split export writes its share of them; see `write`).
    public static func writeShards(_ shards: [Shard], into directory: String, executor: WriteExecutor) throws {
        var tasks = [TensorWriteTask]()
        var files = [OutputFile]()
        for s in shards {
            let f = try OutputFile(creating: FileSystem.join(directory, s.fileName), size: s.fileSize)
            try f.write(s.header, at: 0)
            files.append(f)
            for (it, off) in s.items {
                tasks.append(TensorWriteTask(file: f, offset: off, source: it.source, dtype: it.dtype, label: it.name))
            }
        }
        try executor.run(tasks)
        for f in files { try f.sync() }
    }

    /// Plans and writes `items` as a complete checkpoint at `path`, atomically.
    public static func save(_ items: [Item], to path: String, maxShardSize: Int = defaultMaxShardSize,
                            overwrite: Bool = false, executor: WriteExecutor = WriteExecutor()) throws {
        let shards = try plan(items, maxShardSize: maxShardSize)
        let out = try AtomicOutputDirectory(finalPath: path, overwrite: overwrite)
        try write(shards, into: out.tempPath, executor: executor)
        try out.commit()
    }

    private static func pad5(_ i: Int) -> String {
        let s = String(i)
        return String(repeating: "0", count: Swift.max(0, 5 - s.count)) + s
    }
}

/// Name order that compares digit runs as numbers: `layers.2` before `layers.10`.
public func naturalLess(_ a: String, _ b: String) -> Bool {
    var ia = a.utf8.makeIterator(), ib = b.utf8.makeIterator()
    var ca = ia.next(), cb = ib.next()
    func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 48 && $0 <= 57 } ?? false }
    while let x = ca, let y = cb {
        if isDigit(x) && isDigit(y) {
            var na = [UInt8](), nb = [UInt8]()
            while isDigit(ca) { na.append(ca!); ca = ia.next() }
            while isDigit(cb) { nb.append(cb!); cb = ib.next() }
            let ta = na.drop { $0 == 48 }, tb = nb.drop { $0 == 48 }
            if ta.count != tb.count { return ta.count < tb.count }
            if !ta.elementsEqual(tb) { return ta.lexicographicallyPrecedes(tb) }
            if na.count != nb.count { return na.count < nb.count }
            continue
        }
        if x != y { return x < y }
        ca = ia.next(); cb = ib.next()
    }
    return ca == nil && cb != nil
}
