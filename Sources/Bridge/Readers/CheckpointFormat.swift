import TensorCore
import TorchFormats

/// The on-disk formats this tool reads and writes.
public enum CheckpointFormat: String, CaseIterable, Sendable {
    /// Hugging Face safetensors: one file, or a folder of shards with or without an index.
    case safetensors
    /// Megatron-Core distributed checkpoint (`.metadata` + `__R_W.distcp`), as Megatron-LM and Megatron-Bridge save by default.
    case torchDist = "torch_dist"
    /// Megatron FSDP's `fsdp_dtensor`: a bare torch DCP save (`.metadata`, no `metadata.json`, no common
    /// state) of per-layer module parameters with SwiGLU fc1 split (`FSDPDTensorNames`).
    case fsdpDTensor = "fsdp_dtensor"
    /// Megatron-LM's legacy per-rank `mp_rank_XX[_YYY[_ZZZ]]/model_optim_rng.pt`.
    case legacy
    /// A single `torch.save` file.
    case torchSave = "torch.save"

    /// Decides the format of `path` from what is on disk, never from names alone when a marker file exists.
    ///
    /// - a `.safetensors` file, or a folder holding `model*.safetensors` or `model.safetensors.index.json`: safetensors;
    /// - a folder holding `.metadata` (an iteration folder), or a checkpoint root whose tracker file,
    ///   `release/` or single `iter_*` folder holds one: torch_dist, or fsdp_dtensor when it has neither
    ///   `metadata.json` nor a common state (as Megatron-Bridge tells them apart);
    /// - a folder (or root) holding `mp_rank_*` folders: legacy;
    /// - any other regular file: a torch.save zip.
    public static func detect(_ path: String) throws -> CheckpointFormat {
        if FileSystem.isFile(path) {
            return path.hasSuffix(".safetensors") ? .safetensors : .torchSave
        }
        guard FileSystem.isDirectory(path) else {
            throw BridgeError(.unknownFormat, "no such file or folder", file: path)
        }
        if let dir = try iterationDirectory(path) {
            if FileSystem.isFile(FileSystem.join(dir, ".metadata")) {
                return try TorchDistCheckpoint.isFSDPDTensor(directory: dir) ? .fsdpDTensor : .torchDist
            }
            if try FileSystem.list(dir).contains(where: { $0.hasPrefix("mp_rank_") }) { return .legacy }
        }
        let names = try FileSystem.list(path)
        if names.contains("model.safetensors.index.json") || names.contains(where: { $0.hasSuffix(".safetensors") }) {
            return .safetensors
        }
        throw BridgeError(.unknownFormat, "not a checkpoint this tool can read", file: path,
                          hint: "expected a safetensors file or folder, a torch_dist folder (.metadata), or a legacy folder (mp_rank_*)")
    }

    /// The folder holding one iteration of a Megatron checkpoint: `path` itself when it holds the data,
    /// else the folder its tracker file names (`release` or `iter_{N:07d}`), else its only `iter_*` folder.
    public static func iterationDirectory(_ path: String) throws -> String? {
        let names = try FileSystem.list(path)
        if names.contains(".metadata") || names.contains(where: { $0.hasPrefix("mp_rank_") }) { return path }
        let tracker = FileSystem.join(path, "latest_checkpointed_iteration.txt")
        if FileSystem.isFile(tracker) {
            let text = String(decoding: try readWholeFile(tracker), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let dir: String
            if text == "release" {
                dir = FileSystem.join(path, "release")
            } else if let n = Int(text), n >= 0 {
                dir = FileSystem.join(path, "iter_" + String(format: "%07d", n))
            } else {
                throw BridgeError(.unknownFormat, "tracker file holds '\(text)', neither 'release' nor an iteration number",
                                  file: tracker, hint: "write 'release' or the iteration number into the tracker")
            }
            guard FileSystem.isDirectory(dir) else {
                throw BridgeError(.unknownFormat, "tracker names \(FileSystem.basename(dir)), which does not exist", file: tracker)
            }
            return dir
        }
        let iters = names.filter { $0.hasPrefix("iter_") || $0 == "release" }
        if iters.count == 1 { return FileSystem.join(path, iters[0]) }
        return nil
    }
}

import Foundation
