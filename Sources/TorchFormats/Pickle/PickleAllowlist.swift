/// What the reader does when a pickle refers to an allowlisted global.
public enum PickleGlobalRole: Sendable, Equatable {
    /// A value that is referenced, never called: dtypes, storage classes, `torch.Tensor`.
    case constant
    /// A class or function whose calls (REDUCE/NEWOBJ) are recorded as `.object` values:
    /// dataclasses, enums, namespaces, `torch.device`, `_get_layout`, numpy reconstruction.
    case object
    /// `collections.OrderedDict` → `.dict`.
    case orderedDict
    /// `torch.Size((…))` → `.tuple` of ints.
    case torchSize
    /// `_codecs.encode(str, 'latin1')` → `.bytes` (how protocol 2 stores Python bytes).
    case codecsEncode
    /// `builtins.bytes(…)` / `builtins.bytearray(…)` → `.bytes`.
    case bytesConstructor
    /// `builtins.set(…)` / `builtins.frozenset(…)` → `.set`.
    case set, frozenSet
    /// torch tensor reconstruction → `.tensor`.
    case rebuildTensorV2, rebuildTensorV3, rebuildParameter, rebuildFromTypeV2
}

/// The globals a pickle may name. Anything else is refused with an error naming `module.name`, and
/// nothing is ever imported or executed: allowlisted calls only build values.
///
/// The list is torch's `weights_only` allowlist (the parts torch.save output uses), the classes of DCP
/// `.metadata` (torch 2.5–2.13, MCore 0.15's `MCoreMetadata`, the planner classes MCore stores in
/// `all_local_plans`), and the classes Megatron-Core registers as safe globals (format reference §2.4).
public struct PickleAllowlist: Sendable {
    /// `module.name` → role.
    public var roles: [String: PickleGlobalRole]

    public init(roles: [String: PickleGlobalRole]) { self.roles = roles }

    /// The role of `module.name`, nil when it is not allowed. Python 2 module names are mapped as
    /// CPython's `fix_imports` maps them for protocols < 3.
    public func role(module: String, name: String) -> PickleGlobalRole? {
        roles["\(Self.normalizedModule(module)).\(name)"]
    }

    /// A copy that also allows `qualifiedName` with `role`.
    public func adding(_ qualifiedName: String, role: PickleGlobalRole) -> PickleAllowlist {
        var c = self
        c.roles[qualifiedName] = role
        return c
    }

    static func normalizedModule(_ module: String) -> String {
        switch module {
        case "__builtin__": return "builtins"
        case "copy_reg": return "copyreg"
        default: return module
        }
    }

    /// Everything torch checkpoints, DCP metadata and Megatron common state need.
    public static let standard: PickleAllowlist = {
        var r = [String: PickleGlobalRole]()
        // Containers and primitives.
        r["collections.OrderedDict"] = .orderedDict
        r["_codecs.encode"] = .codecsEncode
        r["builtins.bytes"] = .bytesConstructor
        r["builtins.bytearray"] = .bytesConstructor
        r["builtins.set"] = .set
        r["builtins.frozenset"] = .frozenSet
        r["builtins.complex"] = .object
        r["builtins.slice"] = .object
        // Tensors.
        r["torch.Size"] = .torchSize
        r["torch._utils._rebuild_tensor_v2"] = .rebuildTensorV2
        r["torch._utils._rebuild_tensor_v3"] = .rebuildTensorV3
        r["torch._utils._rebuild_parameter"] = .rebuildParameter
        r["torch._tensor._rebuild_from_type_v2"] = .rebuildFromTypeV2
        r["torch.Tensor"] = .constant
        r["torch.nn.parameter.Parameter"] = .constant
        r["torch.storage.UntypedStorage"] = .constant
        r["torch.UntypedStorage"] = .constant
        for name in TorchDTypes.byStorageClass.keys { r["torch.\(name)"] = .constant }
        for name in TorchDTypes.unsupportedStorageClasses { r["torch.\(name)"] = .constant }
        for name in TorchDTypes.byTorchName.keys { r["torch.\(name)"] = .constant }
        for name in TorchDTypes.unsupportedTorchNames { r["torch.\(name)"] = .constant }
        r["torch.serialization._get_layout"] = .object
        r["torch.device"] = .object
        r["torch._C.Generator"] = .object
        // torch.distributed.checkpoint metadata (torch 2.5–2.13).
        for name in ["Metadata", "TensorStorageMetadata", "ChunkStorageMetadata", "TensorProperties",
                     "_MEM_FORMAT_ENCODING", "BytesStorageMetadata", "MetadataIndex", "StorageMeta"] {
            r["torch.distributed.checkpoint.metadata.\(name)"] = .object
        }
        r["torch.distributed.checkpoint.filesystem._StorageInfo"] = .object
        r["torch.distributed.checkpoint.filesystem._StoragePrefix"] = .object
        for name in ["SavePlan", "WriteItem", "WriteItemType", "TensorWriteData"] {
            r["torch.distributed.checkpoint.planner.\(name)"] = .object
        }
        // MCore 0.15 metadata subclasses.
        r["megatron.core.dist_checkpointing.strategies.torch.MCoreMetadata"] = .object
        r["megatron.core.dist_checkpointing.strategies.torch.MCoreSavePlan"] = .object
        // Megatron-Core's registered safe globals (megatron/core/safe_globals.py).
        r["argparse.Namespace"] = .object
        r["types.SimpleNamespace"] = .object
        r["pathlib.PosixPath"] = .object
        r["io.BytesIO"] = .object
        r["_io.BytesIO"] = .object
        r["signal.Signals"] = .object
        r["numpy.core.multiarray._reconstruct"] = .object
        r["numpy._core.multiarray._reconstruct"] = .object
        r["numpy.ndarray"] = .object
        r["numpy.dtype"] = .object
        r["numpy.dtypes.UInt32DType"] = .object
        r["megatron.core.enums.ModelType"] = .object
        r["megatron.core.optimizer.optimizer_config.OptimizerConfig"] = .object
        r["megatron.core.rerun_state_machine.RerunDiagnostic"] = .object
        r["megatron.core.rerun_state_machine.RerunMode"] = .object
        r["megatron.core.rerun_state_machine.RerunState"] = .object
        r["megatron.core.transformer.enums.AttnBackend"] = .object
        r["megatron.core.transformer.enums.CudaGraphScope"] = .object
        return PickleAllowlist(roles: r)
    }()
}
