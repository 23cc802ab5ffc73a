import TensorCore
import TorchFormats

/// The iteration folder of an `fsdp_dtensor` import: what Megatron-LM's `save_checkpoint` writes for
/// `--ckpt-format fsdp_dtensor` after `preprocess_fsdp_dtensor_state_dict`, as one writing rank: a bare DCP
/// save (`.metadata` + `__0_0.distcp`, no `metadata.json`, no `common.pt`) of
///
///     model.module.<module path>         each parameter whole, under its module path (FSDPDTensorNames)
///     model.module.<fc1 path>_w / _v     SwiGLU fc1 (every name megatron-core's handler matches) in halves
///     args, checkpoint_version, iteration   byte items (torch.save of each value), as Megatron-LM saves them
///
/// DCP reshards on load, so the parallel layout of the writer does not matter; `ImportPlan` refuses one
/// rather than ignore it.
enum FSDPDTensorWriter {
    static func iterationData(_ plan: ImportPlan, sources: [ComposedTensor]) throws -> ImportPipeline.IterationData {
        // ImportPlan refuses a parallel layout for this format: every parameter is one whole tensor here.
        let layout = plan.request.layout
        var dtypes = [String: DType]()
        for s in plan.storage { dtypes[s.key] = s.dtype }
        var file = TorchDistWritePlan.FilePlan(name: TorchDistWritePlan.fileName(rank: 0))
        for (i, p) in plan.parameters.enumerated() {
            let key = p.storage.key
            let stacked = FSDPDTensorNames.stackedAxes(storageKey: key)
            let axes = (stacked.layers ? 1 : 0) + (stacked.experts ? 1 : 0)
            guard p.storage.prefix.count == axes else {
                throw BridgeError(.request, "storage key stacks \(p.storage.prefix.count) axes where its module path shows \(axes); it has no fsdp_dtensor name",
                                  key: key, hint: "report this key: its Megatron module layout is not known to this tool")
            }
            let layer = stacked.layers ? p.storage.prefix[0].index : nil
            let expert = stacked.experts ? p.storage.prefix[axes - 1].index : nil
            let path = FSDPDTensorNames.modulePath(storageKey: key, layer: layer, expert: expert, naming: plan.request.fsdpExpertNaming)
            guard let dtype = dtypes[key] else { throw BridgeError(.missingKeys, "internal plan error: no storage tensor", key: key) }
            let source = sources[i]
            let whole = Box(shape: p.shape)
            guard FSDPDTensorNames.isSwiGLUFC1(path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)) else {
                file.tensorChunks.append(.init(key: FSDPDTensorNames.dcpKey(modulePath: path, half: nil), globalShape: p.shape, dtype: dtype,
                                               offsets: whole.offsets, sizes: whole.sizes, source: source, sourceBox: whole))
                continue
            }
            // megatron-core's split_swiglu_linear_fc1 asserts an even dim 0 and cuts it in the middle.
            guard let rows = p.shape.first, rows % 2 == 0 else {
                throw BridgeError(.shape, "SwiGLU fc1 of shape \(Shape.describe(p.shape)) cannot be split into _w/_v halves (dim 0 must be even)", key: path)
            }
            var halfShape = p.shape
            halfShape[0] = rows / 2
            for h in FSDPDTensorNames.Half.allCases {
                var box = Box(shape: halfShape)
                box.offsets[0] = h.rawValue * rows / 2
                file.tensorChunks.append(.init(key: FSDPDTensorNames.dcpKey(modulePath: path, half: h), globalShape: halfShape, dtype: dtype,
                                               offsets: [Int](repeating: 0, count: halfShape.count), sizes: halfShape, source: source, sourceBox: box))
            }
        }
        let common = MegatronArgs.commonState(context: plan.context, layout: layout, dtype: ImportPipeline.dominantDType(plan),
                                              iteration: plan.request.iteration)
        // Megatron-LM's state dict keeps these at the top level; DCP stores each non-tensor as a torch.save.
        for name in ["args", "checkpoint_version", "iteration"] {
            guard let value = common[name] else { continue }
            file.bytesItems.append(.init(key: name, payload: try TorchSaveWriter.serialize(value)))
        }
        let wp = TorchDistWritePlan(files: [file])
        let written = try TorchDistWriter.layout(wp)
        return ImportPipeline.IterationData(
            files: written.dataFiles.map { ConversionOutput.DataFile(path: $0.name, size: $0.size) },
            write: { names, dir, executor in try TorchDistWriter.writeDataFiles(written, only: names, into: dir, executor: executor) },
            writeRest: { dir in try TorchDistWriter.writeMetadata(written, into: dir) })
    }
}
