import Foundation
import TensorCore
import TorchFormats

/// A Megatron FSDP `fsdp_dtensor` checkpoint seen as torch_dist global tensors: each module parameter
/// (`model.module.….layers.N.…`, split SwiGLU halves, per-expert names) placed into the stacked storage key
/// it belongs to (`FSDPDTensorNames`), so export, forward and diff read it as they read torch_dist. Nothing
/// is copied: each storage tensor is a `ComposedTensor` whose parts are the DCP tensors.
///
/// Fails closed on opening (from the metadata alone): every model tensor must land in a storage key, every
/// storage key must be complete (each layer 0..<L, each expert 0..<E, both halves) with one shape and dtype
/// for its pieces; tensors that are neither the model's nor training state (optimizer, RNG, …) are errors.
public final class FSDPDTensorStore: TensorStore {
    public let checkpoint: TorchDistCheckpoint
    /// The storage keys, sorted.
    public let tensorNames: [String]
    /// DCP tensor keys that are training state (optimizer moments, master weights), not read as weights.
    public let trainingStateKeys: [String]
    /// DCP keys of the model skipped as not weights (`_extra_state`).
    public let skippedKeys: [String]
    /// How many DCP tensors the storage tensors are made of.
    public let pieceCount: Int

    private struct Layout {
        var stacked: [Int]            // leading stacked sizes (layers, experts)
        var piece: [Int]              // one piece's shape (a half's, when split)
        var dtype: DType
        var halves: Bool
        var pieces: [FSDPDTensorNames.Piece: String]
    }
    private let layouts: [String: Layout]
    private let lock = NSLock()
    private var cache = [String: ComposedTensor]()

    public var origin: String? { checkpoint.directory }

    public init(_ checkpoint: TorchDistCheckpoint) throws {
        self.checkpoint = checkpoint
        let metadataPath = FileSystem.join(checkpoint.directory, TorchDistCheckpoint.metadataFileName)
        var groups = [String: [(FSDPDTensorNames.Piece, String, DCPMetadata.TensorEntry)]]()
        var training = [String](), skipped = [String]()
        for key in checkpoint.tensorKeys {
            guard let path = FSDPDTensorNames.modulePath(key) else {
                if TrainingStateKind.classify(key) != nil { training.append(key); continue }
                let hint = key.range(of: #"^model\d+\."#, options: .regularExpression) != nil
                    ? "virtual pipeline chunks (model0., model1., …) are not read; save with one model chunk per rank"
                    : "an fsdp_dtensor save holds model.* tensors and training state (optimizer.*, rng_state, …); "
                      + "if this is a torch_dist save that lost its metadata.json and common.pt, restore those files"
                throw BridgeError(.unusedKeys, "fsdp_dtensor checkpoint (.metadata without metadata.json or a common state) holds a tensor that is neither model.* nor training state",
                                  file: metadataPath, key: key, hint: hint)
            }
            if path.hasSuffix("._extra_state") || path == "_extra_state" { skipped.append(key); continue }
            let p = FSDPDTensorNames.piece(modulePath: path)
            groups[p.storageKey, default: []].append((p, key, try checkpoint.tensorEntry(key)))
        }
        var layouts = [String: Layout]()
        for (storageKey, members) in groups {
            layouts[storageKey] = try Self.layout(storageKey, members, file: metadataPath)
        }
        self.layouts = layouts
        tensorNames = layouts.keys.sorted()
        trainingStateKeys = training
        skippedKeys = skipped
        pieceCount = groups.values.reduce(0) { $0 + $1.count }
    }

    /// Checks that a storage key's pieces form one stacked tensor, and describes it.
    private static func layout(_ storageKey: String, _ members: [(FSDPDTensorNames.Piece, String, DCPMetadata.TensorEntry)],
                               file: String) throws -> Layout {
        let (first, firstKey, firstEntry) = members[0]
        func fail(_ why: String, _ key: String) -> BridgeError {
            BridgeError(.shape, "fsdp_dtensor pieces of \(storageKey) \(why)", file: file, key: key,
                        hint: "the checkpoint is incomplete or not a Megatron FSDP fsdp_dtensor save")
        }
        var byPiece = [FSDPDTensorNames.Piece: String]()
        var layers = Set<Int>(), experts = Set<Int>()
        for (p, key, e) in members {
            guard (p.layer == nil) == (first.layer == nil), (p.expert == nil) == (first.expert == nil), (p.half == nil) == (first.half == nil) else {
                throw fail("mix indexed and unindexed names (\(firstKey))", key)
            }
            guard e.size == firstEntry.size, e.dtype == firstEntry.dtype else {
                throw fail("disagree: \(Shape.describe(e.size)) \(e.dtype) here, \(Shape.describe(firstEntry.size)) \(firstEntry.dtype) in \(firstKey)", key)
            }
            if let other = byPiece[p] { throw fail("name the same piece twice (\(other))", key) }
            byPiece[p] = key
            if let l = p.layer { layers.insert(l) }
            if let x = p.expert { experts.insert(x) }
        }
        let halves = first.half != nil
        let expected = max(layers.count, 1) * max(experts.count, 1) * (halves ? 2 : 1)
        for (set, what) in [(layers, "layer"), (experts, "expert")] where !set.isEmpty {
            if let missing = (0..<set.count).first(where: { !set.contains($0) }) {
                throw fail("lack \(what) \(missing) (have \(set.count) \(what)s, up to \(set.max()!))", firstKey)
            }
        }
        guard byPiece.count == expected else {
            var missing = firstKey
            search: for l in layers.isEmpty ? [nil] : layers.sorted().map(Optional.some) {
                for x in experts.isEmpty ? [nil] : experts.sorted().map(Optional.some) {
                    for h in halves ? FSDPDTensorNames.Half.allCases.map(Optional.some) : [nil]
                    where byPiece[FSDPDTensorNames.Piece(storageKey: storageKey, layer: l, expert: x, half: h)] == nil {
                        missing = FSDPDTensorNames.dcpKey(modulePath: FSDPDTensorNames.modulePath(storageKey: storageKey, layer: l, expert: x,
                                                                                                 naming: .grouped), half: h)
                        break search
                    }
                }
            }
            throw fail("are incomplete: \(byPiece.count) of \(expected) (no \(missing); SwiGLU halves come as _w and _v pairs)", firstKey)
        }
        guard !firstEntry.size.isEmpty || !halves else { throw fail("split a scalar", firstKey) }
        let stacked: [Int] = (layers.isEmpty ? [] : [layers.count]) + (experts.isEmpty ? [] : [experts.count])
        return Layout(stacked: stacked, piece: firstEntry.size, dtype: firstEntry.dtype, halves: halves, pieces: byPiece)
    }

    public func tensorSource(_ name: String) throws -> TensorSource {
        lock.lock(); defer { lock.unlock() }
        if let t = cache[name] { return t }
        guard let l = layouts[name] else {
            throw BridgeError(.missingKeys, "no fsdp_dtensor tensor makes up this storage key", file: checkpoint.directory, key: name)
        }
        var shape = l.stacked + l.piece
        let axis = l.stacked.count
        if l.halves { shape[axis] *= 2 }
        var parts = [ComposedTensor.Part]()
        for (p, key) in l.pieces.sorted(by: { $0.value < $1.value }) {
            var offsets = [Int]()
            if let layer = p.layer { offsets.append(layer) }
            if let expert = p.expert { offsets.append(expert) }
            offsets += [Int](repeating: 0, count: l.piece.count)
            if let h = p.half { offsets[axis] = h.rawValue * l.piece[0] }
            let source = try checkpoint.tensor(key)
            parts.append(ComposedTensor.Part(box: Box(offsets: offsets, sizes: [Int](repeating: 1, count: axis) + l.piece), source: source,
                                             sourceOrigin: [Int](repeating: 0, count: l.piece.count),
                                             axisMap: [Int?](repeating: nil, count: axis) + (0..<l.piece.count).map { $0 }))
        }
        let t = ComposedTensor(dtype: l.dtype, shape: shape, parts: parts)
        try t.validate(name: name)
        cache[name] = t
        return t
    }
}
