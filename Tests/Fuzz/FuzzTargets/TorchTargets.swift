import TensorCore
import TorchFormats

extension FuzzTargets {
    /// The bytes are one pickle (`data.pkl`, `.metadata`, a DCP bytes item).
    public static let pickle = FuzzTarget(
        name: "pickle", summary: "PickleReader.read (the restricted pickle VM, protocols 0–5)"
    ) { bytes in
        _ = try PickleReader().read(bytes, file: "fuzz.pkl")
    }

    /// The bytes are a zip archive as torch.save writes one; every entry's CRC is verified and read.
    public static let zip = FuzzTarget(
        name: "zip", summary: "TorchZipReader (end records, zip64, central directory, local headers, CRC-32)"
    ) { bytes in
        let path = ScratchFolder.shared.write(bytes, as: "archive.zip")
        let file = try MappedFile(path: path)
        let zip = try TorchZipReader(file: file, verifyCRC: true)
        for e in zip.entries {
            let data = try zip.bytes(of: e)
            FuzzCheck.require(data.count == e.size, "entry '\(e.name)' reads \(data.count) of \(e.size) bytes", target: "zip")
        }
    }

    /// The bytes are a `.pt` file: the zip, `data.pkl`, every tensor's storage and view, the state dict.
    public static let torchSave = FuzzTarget(
        name: "torch-save", summary: "TorchSaveFile (zip + pickle + storages), stateDict, every tensor's bytes"
    ) { bytes in
        let path = ScratchFolder.shared.write(bytes, as: "file.pt")
        let file = try MappedFile(path: path)
        let ts = try TorchSaveFile(file: file, verifyCRC: true)
        for t in ts.pickledTensors {
            guard t.isContiguous, t.dtype.byteSize != nil else { continue }
            let c = try ts.contiguousTensor(t)
            // The view must lie inside its storage record (the mapping hides an overrun from ASan).
            let storage = try ts.storageBytes(t.storage.key)
            let lo = storage.baseAddress.map { UnsafeRawPointer($0) }, hi = lo.map { $0 + storage.count }
            if c.byteCount > 0 {
                FuzzCheck.require(lo != nil && c.base != nil && c.base! >= lo! && c.base! + c.byteCount <= hi!,
                                  "tensor view of \(c.byteCount) bytes leaves its \(storage.count)-byte storage", target: "torch-save")
            }
        }
        _ = try ts.stateDict()
    }

    /// The bytes are a DCP `.metadata` file (pickle VM + the Metadata dataclass decoding and cross-checks).
    public static let dcpMetadata = FuzzTarget(
        name: "dcp-metadata", summary: "DCPMetadata(path:) (torch.distributed.checkpoint .metadata)"
    ) { bytes in
        let path = ScratchFolder.shared.write(bytes, as: ".metadata")
        let m = try DCPMetadata(path: path)
        _ = m.tensors
        _ = m.byteKeys
    }
}
