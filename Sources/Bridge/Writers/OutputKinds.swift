import TensorCore

/// What `--overwrite` may replace, and which folders count as the input of a conversion.
public enum OutputKinds {
    /// A Megatron checkpoint root or iteration folder (what `import` writes).
    public static let megatronCheckpoint = AtomicOutputDirectory.Replaceable.folder(
        "a Megatron checkpoint", holdingAnyOf: ["latest_checkpointed_iteration.txt", ".metadata", "release", "common.pt", "metadata.json"])

    /// A Hugging Face checkpoint folder (what `export` and `synth` write).
    public static let huggingFaceCheckpoint = AtomicOutputDirectory.Replaceable(kind: "a Hugging Face checkpoint") { path in
        FileSystem.isFile(FileSystem.join(path, "config.json"))
            || ((try? FileSystem.list(path)) ?? []).contains { $0.hasSuffix(".safetensors") || $0 == "model.safetensors.index.json" }
    }

    /// The folders an export reads: the iteration folder, and the checkpoint root above it when the root
    /// names it in its tracker (so an output inside the root is refused too).
    public static func megatronInputs(iterationDirectory dir: String) -> [String] {
        let parent = FileSystem.dirname(dir)
        return FileSystem.isFile(FileSystem.join(parent, "latest_checkpointed_iteration.txt")) ? [dir, parent] : [dir]
    }
}
