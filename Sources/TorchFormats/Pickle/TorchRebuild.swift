import TensorCore

/// The torch tensor reconstruction functions, interpreted: their arguments become a `PickledTensor`.
/// Argument lists follow `torch/_utils.py` (2.5–2.13):
/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None)`,
/// `_rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None)`,
/// `_rebuild_parameter(data, requires_grad, backward_hooks)`,
/// `torch._tensor._rebuild_from_type_v2(func, new_type, args, state)`.
enum TorchRebuild {
    static func tensor(role: PickleGlobalRole, name: String, args: [PickleValue], allowlist: PickleAllowlist) throws -> PickledTensor {
        func bad(_ why: String) -> TorchFormatsError {
            TorchFormatsError(.torchSaveInvalid, "\(name): \(why)", hint: "the tensor record in data.pkl is malformed")
        }
        switch role {
        case .rebuildTensorV2, .rebuildTensorV3:
            let v3 = role == .rebuildTensorV3
            let fixed = v3 ? 7 : 6
            guard args.count == fixed || args.count == fixed + 1 else { throw bad("expected \(fixed) arguments, got \(args.count)") }
            let storage = try self.storage(args[0], bad)
            guard let offset = args[1].intValue, offset >= 0 else { throw bad("storage offset must be a non-negative int") }
            guard let size = args[2].intArray, size.allSatisfy({ $0 >= 0 }) else { throw bad("size must be a tuple of non-negative ints") }
            guard let stride = args[3].intArray, stride.count == size.count, stride.allSatisfy({ $0 >= 0 }) else {
                throw bad("stride must be a tuple of non-negative ints, one per dimension")
            }
            guard let requiresGrad = args[4].boolValue else { throw bad("requires_grad must be a bool") }
            try emptyHooks(args[5], bad)
            if args.count == fixed + 1 {
                guard args[fixed].isNone || args[fixed].dictItems?.isEmpty == true else {
                    throw bad("tensor metadata (\(args[fixed].kindDescription)) is not supported")
                }
            }
            var dtype = storage.elementType
            if v3 {
                guard case let .global("torch", dn) = args[6] else { throw bad("dtype must be a torch dtype") }
                guard let d = TorchDTypes.byTorchName[dn] else {
                    throw TorchFormatsError(.tensorUnsupported, "\(name): dtype torch.\(dn) is not supported")
                }
                guard storage.className == "UntypedStorage" || storage.elementType == d else {
                    throw bad("a \(storage.className) cannot hold torch.\(dn) elements")
                }
                dtype = d
            } else if storage.className == "UntypedStorage" {
                throw bad("an UntypedStorage needs _rebuild_tensor_v3 and its dtype")
            }
            return PickledTensor(storage: storage, dtype: dtype, storageOffset: offset, size: size, stride: stride,
                                 requiresGrad: requiresGrad)
        case .rebuildParameter:
            guard args.count == 3, var t = args[0].tensorValue else { throw bad("expected (tensor, requires_grad, backward_hooks)") }
            guard let rg = args[1].boolValue else { throw bad("requires_grad must be a bool") }
            try emptyHooks(args[2], bad)
            t.requiresGrad = rg
            t.isParameter = true
            return t
        case .rebuildFromTypeV2:
            guard args.count == 4, case let .global(fm, fn) = args[0], case let .global(tm, tn) = args[1],
                  let inner = args[2].sequenceValue else {
                throw bad("expected (function, type, args, state)")
            }
            guard let innerRole = allowlist.role(module: fm, name: fn),
                  [.rebuildTensorV2, .rebuildTensorV3, .rebuildParameter].contains(innerRole) else {
                throw bad("the function \(fm).\(fn) does not rebuild a tensor")
            }
            let typeName = "\(tm).\(tn)"
            guard typeName == "torch.Tensor" || typeName == "torch.nn.parameter.Parameter" else {
                throw bad("tensor subclass \(typeName) is not supported")
            }
            guard args[3].isNone || args[3].dictItems?.isEmpty == true else { throw bad("tensor state (attributes) is not supported") }
            var t = try tensor(role: innerRole, name: "\(fm).\(fn)", args: inner, allowlist: allowlist)
            if typeName == "torch.nn.parameter.Parameter" { t.isParameter = true }
            return t
        default:
            throw bad("not a tensor function")
        }
    }

    /// `('storage', torch.<X>Storage, key, location, numel)`, the persistent id torch.save writes.
    private static func storage(_ v: PickleValue, _ bad: (String) -> TorchFormatsError) throws -> PickledTensor.Storage {
        guard case let .persistentID(pid) = v, let t = pid.tupleValue, t.count == 5, t[0] == .string("storage"),
              case let .global(module, cls) = t[1], let key = t[2].stringValue, let location = t[3].stringValue,
              let numel = t[4].intValue, numel >= 0 else {
            throw bad("storage must be a persistent id ('storage', <storage class>, key, location, numel)")
        }
        if module == "torch", let d = TorchDTypes.byStorageClass[cls] {
            return PickledTensor.Storage(className: cls, key: key, location: location, numel: numel, elementType: d)
        }
        if (module == "torch.storage" || module == "torch") && cls == "UntypedStorage" {
            return PickledTensor.Storage(className: cls, key: key, location: location, numel: numel, elementType: .u8)
        }
        throw TorchFormatsError(.tensorUnsupported, "storage class \(module).\(cls) is not supported")
    }

    private static func emptyHooks(_ v: PickleValue, _ bad: (String) -> TorchFormatsError) throws {
        guard v.isNone || v.dictItems?.isEmpty == true else { throw bad("backward hooks are not supported") }
    }
}
