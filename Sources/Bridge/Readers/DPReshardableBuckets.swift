import TensorCore
import TorchFormats

/// The DistributedOptimizer's `dp_reshardable` optimizer state, and why `--weights main-params` cannot read it.
///
/// megatron-core 0.16.1 (`sharded_param_state_dp_reshardable`) stores each DDP grad-buffer bucket as flat
/// tensors `optimizer.distributed.dp_group_idx_G.gbuf_idx_B.dtype_D.bucket_idx_I.{param,exp_avg,exp_avg_sq}`
/// of the bucket's unpadded size, and `per_bucket_numel[_unpadded]` objects. Which slice belongs to which
/// parameter is `_ParamAndGradBuffer.param_index_map`: the trainable parameters in the reverse of the DDP
/// module's `named_parameters()` order (module registration order, i.e. model code), each start padded to 64
/// elements. The save drops the per-parameter `gbuf_local_start`/`end`; the DCP chunks mark where slices begin,
/// not whose they are. Two models with the same parameter names and shapes registered in another order
/// (megatron-core's own saves with a layer's `q_layernorm` and `k_layernorm` swapped, both `[head_dim]`) give
/// identical metadata with those slots exchanged, so the layout is not derivable from the checkpoint.
enum DPReshardableBuckets {
    /// The master-weight bucket tensors (`….param`), sorted, or empty when the state is not dp_reshardable.
    static func masterBuckets(_ names: [String]) -> [String] {
        names.filter { isBucket($0) && $0.hasSuffix(".param") }.sorted()
    }

    /// Whether `name` is one of the flat bucket tensors of any state (`param`, `exp_avg`, …).
    static func isBucket(_ name: String) -> Bool {
        name.hasPrefix("optimizer.distributed.dp_group_idx_") && name.contains(".gbuf_idx_") && name.contains(".bucket_idx_")
    }

    /// The typed refusal, naming what the checkpoint holds and what the layout would need.
    static func refusal(_ checkpoint: TorchDistCheckpoint, names: [String]) -> BridgeError {
        let buckets = masterBuckets(names)
        let all = names.filter(isBucket)
        let elements = buckets.reduce(0) { $0 + ((try? checkpoint.tensorEntry($1).size.reduce(1, *)) ?? 0) }
        let held = buckets.isEmpty
            ? "\(all.count) flat bucket tensor(s) but no master-weight bucket (….param)"
            : "\(buckets.count) flat master-weight bucket(s) (\(elements) elements; \(all.count) bucket tensors in all)"
        return BridgeError(
            .request,
            "--weights main-params: the optimizer state is DistributedOptimizer dp_reshardable: \(held), "
                + "without the slice of each parameter in them. megatron-core lays a bucket out in the reverse of the DDP "
                + "module's named_parameters() order (module registration order, which is model code, not checkpoint data), "
                + "frozen parameters left out, and drops the per-parameter gbuf_local_start/end on save; names, shapes and "
                + "DCP chunk boundaries do not tell same-sized parameters apart (e.g. a layer's q_layernorm and k_layernorm)",
            file: checkpoint.directory, key: buckets.first ?? all.first,
            hint: "load it in Megatron-LM with the same model and parallel layout and save again with "
                + "--dist-ckpt-optim-fully-reshardable (per-parameter master weights, which export reads), "
                + "or export the model weights instead (--weights model, the default)")
    }
}
