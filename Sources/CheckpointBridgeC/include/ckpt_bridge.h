/*
 * ckpt_bridge.h: the C ABI of CheckpointBridge (libCheckpointBridgeC.so).
 *
 * Every operation takes a UTF-8 JSON request object and returns a malloc'd UTF-8 JSON envelope, which the
 * caller frees with ckpt_bridge_free():
 *
 *     {"ok": true,  "result": { ... }}
 *     {"ok": false, "error": {"module": "SafeTensors", "code": "truncated", "message": "...",
 *                             "file": "/path/model.safetensors", "key": "tensor.name" | null,
 *                             "offset": 1234 | null, "hint": "..." | null,
 *                             "description": "message (file, key, at byte N)", "causes": ["..."]}}
 *
 * The request fields are the CLI's options in snake_case (see Docs/python.md); an unknown field is an
 * error, never ignored. Results are what `ckpt-bridge <command> --json` prints.
 *
 * Nothing in the library prints, exits or keeps state between calls: calls from several threads at once
 * are independent (two conversions in two threads work). Outputs are written into a hidden temporary
 * folder and renamed into place only when complete; on any error, or a cancellation, it is removed.
 *
 * Build: `swift build -c release` gives .build/release/libCheckpointBridgeC.so. Link with
 * `-lCheckpointBridgeC` (the Python wheel bundles the library and the Swift runtime beside it).
 */
#ifndef CKPT_BRIDGE_H
#define CKPT_BRIDGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header describes; compare with ckpt_bridge_abi_version() at run time. */
#define CKPT_BRIDGE_ABI_VERSION 1

/* The ABI version of the loaded library. */
int32_t ckpt_bridge_abi_version(void);

/* Frees an envelope returned by any function below (NULL is allowed). */
void ckpt_bridge_free(char *envelope);

/*
 * Progress of import/export: bytes written so far, bytes in total, the tensor being written (valid only
 * during the call), and the `user` pointer given to the call. Called on the writer threads, one call at a
 * time, once before anything is created (done = 0) and after every slab written. Return 0 to go on,
 * non-zero to cancel: the call then fails with {"module": "TensorCore", "code": "cancelled"} and the
 * output folder is never created.
 */
typedef int32_t (*ckpt_bridge_progress_fn)(int64_t done, int64_t total, const char *tensor, void *user);

/* {"path"}: the tensors of any checkpoint (safetensors file or folder, torch_dist, legacy, .pt). */
char *ckpt_bridge_inspect(const char *request_json);

/*
 * {"hf_dir", "out_dir"?, "tp", "pp", "ep", "etp", "pp_first_layers", "pp_last_layers", "pad_vocab",
 *  "format": "torch_dist"|"legacy", "dtype": "keep"|"bf16"|"fp16"|"fp32", "vision_layout": "megatron"|"hf",
 *  "allow_unused": [patterns], "iteration", "common_state": "file"|"dcp"}: the import plan (`plan import --json`);
 *  writes nothing.
 */
char *ckpt_bridge_plan_import(const char *request_json);

/*
 * {"megatron_dir", "out_dir"?, "hf_config", "max_shard_size": bytes|"5GB", "expert_layout": "hub"|"v5"|"per-expert",
 *  "dtype", "allow_unused", "iteration": N|"release" (under a checkpoint root, instead of the tracker's),
 *  "weights": "model"|"main-params"}: the export plan (`plan export --json`); writes nothing.
 */
char *ckpt_bridge_plan_export(const char *request_json);

/* The plan_import fields plus "out_dir" (required), "overwrite", "jobs", "memory": HF -> Megatron.
 * Result: {"out_dir", "family", "layout", "format", "tensors", "bytes", "seconds", "skipped"}. */
char *ckpt_bridge_import(const char *request_json, ckpt_bridge_progress_fn progress, void *user);

/* The plan_export fields plus "out_dir" (required), "overwrite", "jobs", "memory": Megatron -> HF.
 * Result: {"out_dir", "family", "expert_layout", "config", "tensors", "bytes", "seconds", "training_state"
 * (optimizer/scheduler tensors left in the checkpoint, not model weights)}. */
char *ckpt_bridge_export(const char *request_json, ckpt_bridge_progress_fn progress, void *user);

/* {"a", "b", "jobs"}: tensor by tensor (`diff --json`): {"equal", "compared", "missing_in_b", "extra_in_b", "differing"}. */
char *ckpt_bridge_diff(const char *request_json);

/* {"hf_dir", "megatron_dir", "max_abs", "inputs", "prefix", "merger_gelu": "exact"|"tanh", "threads"}:
 * both forward passes compared (`verify --json`): {"pass", "inputs": [{"max_abs", "cosine", ...}], ...}. */
char *ckpt_bridge_verify(const char *request_json);

/* {"path", "out", "hf_config", "inputs", "prefix", "merger_gelu", "threads"}: the reference forward pass;
 * writes the logits (safetensors) to "out". */
char *ckpt_bridge_forward(const char *request_json);

/*
 * Rank-local streaming: the tensors one Megatron rank holds, read straight from an HF checkpoint, as the
 * import would have written them (the legacy rank file's "model" entries: names local to the pipeline
 * stage and expert-parallel rank, local shapes, the requested dtype). Nothing is converted on disk.
 */
typedef struct ckpt_bridge_rank_reader ckpt_bridge_rank_reader;

/* The plan_import fields plus "rank": {"tp", "pp", "ep"}. On success *reader is set and the result lists
 * {"tensors": [{"index", "name", "dtype", "shape", "bytes", "view"}], "total_bytes", ...}. */
char *ckpt_bridge_rank_open(const char *request_json, ckpt_bridge_rank_reader **reader);

/* Copies tensor `index` into `buffer` of exactly its "bytes"; NULL on success, else an error envelope. */
char *ckpt_bridge_rank_read(ckpt_bridge_rank_reader *reader, int64_t index, void *buffer, int64_t capacity);

/* The tensor's bytes inside the mapped HF file when they are one run of the right dtype ("view": true),
 * valid until ckpt_bridge_rank_close; NULL otherwise (use ckpt_bridge_rank_read). */
const void *ckpt_bridge_rank_view(ckpt_bridge_rank_reader *reader, int64_t index);

/* Closes the reader (unmaps what it mapped). NULL is allowed. */
void ckpt_bridge_rank_close(ckpt_bridge_rank_reader *reader);

#ifdef __cplusplus
}
#endif

#endif /* CKPT_BRIDGE_H */
