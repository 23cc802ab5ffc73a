import SafeTensors
import TensorCore

extension FuzzTargets {
    /// The bytes are a whole `.safetensors` file. A header that parses must re-encode to the same
    /// entries: the encoder lays tensors out back to back, which the parser requires of every file.
    public static let safeTensorsHeader = FuzzTarget(
        name: "safetensors-header", summary: "SafeTensorsHeader.parse (a whole .safetensors file), then encode round trip"
    ) { bytes in
        let h = try SafeTensorsHeader.parse(bytes, path: "fuzz.safetensors")
        let target = "safetensors-header"
        FuzzCheck.require(h.dataStart <= bytes.count, "data start \(h.dataStart) past \(bytes.count) bytes", target: target)
        let (encoded, offsets) = try SafeTensorsHeader.encode(h.entries.map { ($0.name, $0.dtype, $0.shape) }, metadata: h.metadata)
        FuzzCheck.require(offsets == h.entries.map(\.dataOffsets.begin), "re-encoded offsets differ", target: target)
        let dataBytes = bytes.count - h.dataStart
        var file = encoded
        file.append(contentsOf: [UInt8](repeating: 0, count: dataBytes))
        let again = try file.withUnsafeBytes { try SafeTensorsHeader.parse($0, path: "reencoded.safetensors") }
        FuzzCheck.require(again.entries == h.entries, "re-encoded header parses to other entries", target: target)
        FuzzCheck.require(again.metadata == h.metadata, "re-encoded header parses to other metadata", target: target)
    }

    /// The bytes are `model.safetensors.index.json`.
    public static let safeTensorsIndex = FuzzTarget(
        name: "safetensors-index", summary: "SafeTensorsCheckpoint.readIndex (model.safetensors.index.json)"
    ) { bytes in
        let path = ScratchFolder.shared.write(bytes, as: "model.safetensors.index.json")
        let index = try SafeTensorsCheckpoint.readIndex(path)
        for s in index.shardNames {
            FuzzCheck.require(FileSystem.isContainedRelativePath(s), "shard '\(s)' escapes the folder", target: "safetensors-index")
        }
    }
}
