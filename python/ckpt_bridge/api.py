"""The conversions, checks and reports of ckpt_bridge, each one call into the C ABI.

Every function takes the CLI's options as keyword arguments (``--max-shard-size`` is ``max_shard_size``)
and raises a :class:`~ckpt_bridge.CheckpointError` subclass naming the file, key and byte offset on bad
input. Outputs are written into a hidden temporary folder and renamed into place only when complete.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _native
from .progress import ProgressArg, observer

PathLike = Union[str, "os.PathLike[str]"]
Size = Union[int, str]


@dataclass(frozen=True)
class Plan:
    """A dry run: what import or export would write, after every check ran. Nothing was written."""

    summary: Dict[str, str]
    """family, layout, format, tensor and byte counts, ... (``plan import``'s closing lines)."""
    tensors: List[Dict[str, Any]]
    """Each target tensor: key/name, dtype, shape, transform, sources, and for torch_dist imports the chunks per rank."""
    files: List[Dict[str, Any]] = field(default_factory=list)
    """Legacy imports: each rank file (path, rank, bytes, and the tensors under their rank-local names)."""

    @property
    def bytes(self) -> int:
        """Bytes the conversion would write."""
        return int(self.summary["bytes"].split()[0])


@dataclass(frozen=True)
class Result:
    """What import_hf / export_hf wrote."""

    out_dir: str
    tensors: int
    bytes: int
    seconds: float
    details: Dict[str, Any] = field(default_factory=dict)
    """The whole result (family, layout, config origin, ...)."""


@dataclass(frozen=True)
class Diff:
    """Two checkpoints compared tensor by tensor (name, dtype, shape, XXH3-64 of the bytes)."""

    equal: bool
    compared: int
    missing: List[str]
    """Names in A and not in B."""
    extra: List[str]
    """Names in B and not in A."""
    differing: List[Dict[str, str]]
    """{"name", "what"} for each tensor whose dtype, shape or bytes differ."""

    def __bool__(self) -> bool:
        return self.equal


@dataclass(frozen=True)
class Report:
    """verify: both forward passes on the same inputs, compared position by position."""

    passed: bool
    inputs: List[Dict[str, Any]]
    """Per input: tokens, max_abs, mean_abs, cosine, nmse, argmax_agreement, pass."""
    details: Dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed


def _path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


def _import_fields(hf_dir, out_dir, tp, pp, ep, etp, pp_first_layers, pp_last_layers, pad_vocab, vision_layout,
                   format, dtype, allow_unused, iteration, common_state="file") -> dict:
    return dict(hf_dir=_path(hf_dir), out_dir=_path(out_dir), tp=tp, pp=pp, ep=ep, etp=etp, pp_first_layers=pp_first_layers,
                pp_last_layers=pp_last_layers, pad_vocab=pad_vocab, vision_layout=vision_layout, format=format, dtype=dtype,
                allow_unused=list(allow_unused), iteration=iteration, common_state=common_state)


def inspect(path: PathLike) -> Dict[str, Any]:
    """The tensors of any checkpoint (safetensors file or folder, torch_dist, legacy, .pt): the same dict as
    ``ckpt-bridge inspect --json`` (path, format, tensors with name/dtype/shape/bytes/file, notes, totals).
    Reads headers only."""
    return _native.call("inspect", dict(path=_path(path)))


def plan_import(hf_dir: PathLike, out_dir: Optional[PathLike] = None, *, tp: int = 1, pp: int = 1, ep: int = 1,
                etp: Optional[int] = None, pp_first_layers: Optional[int] = None, pp_last_layers: Optional[int] = None,
                pad_vocab: bool = False, vision_layout: Optional[str] = None, format: str = "torch_dist",
                dtype: str = "keep", allow_unused: Sequence[str] = (), iteration: int = 0, common_state: str = "file") -> Plan:
    """Plans HF → Megatron at the given layout and runs every check (key accounting, shapes, divisibility).

    Args:
        vision_layout: "megatron" (Megatron-Bridge ≥ 0.6, the default for Qwen3-VL) or "hf" (0.3, ms-swift).
        format: "torch_dist" or "legacy".
        common_state: "file" (common.pt, read by every megatron-core) or "dcp" (the common_state item, megatron-core >= 0.19).
        dtype: "keep" (bit-exact), "bf16", "fp16" or "fp32".
        allow_unused: HF tensor patterns to leave out on purpose ('*' an index, '**' a suffix).
    """
    r = _native.call("plan_import", _import_fields(hf_dir, out_dir, tp, pp, ep, etp, pp_first_layers, pp_last_layers,
                                                   pad_vocab, vision_layout, format, dtype, allow_unused, iteration, common_state))
    return _plan(r)


def plan_export(megatron_dir: PathLike, out_dir: Optional[PathLike] = None, *, hf_config: Optional[PathLike] = None,
                expert_layout: Optional[str] = None, max_shard_size: Size = "5GB", dtype: str = "keep",
                allow_unused: Sequence[str] = (), iteration: Union[int, str, None] = None, weights: str = "model",
                quantize: Optional[str] = None) -> Plan:
    """Plans Megatron (torch_dist or legacy, any layout) → HF; see :func:`export_hf` for the options."""
    r = _native.call("plan_export", dict(megatron_dir=_path(megatron_dir), out_dir=_path(out_dir), hf_config=_path(hf_config),
                                         expert_layout=expert_layout, max_shard_size=max_shard_size, dtype=dtype,
                                         allow_unused=list(allow_unused), iteration=iteration, weights=weights, quantize=quantize))
    return _plan(r)


def _plan(r: dict) -> Plan:
    details = ("tensors_detail", "files_detail")
    return Plan({k: v for k, v in r.items() if k not in details}, r["tensors_detail"], r.get("files_detail", []))


def _result(r: dict) -> Result:
    return Result(r["out_dir"], r["tensors"], r["bytes"], r["seconds"], r)


def import_hf(hf_dir: PathLike, out_dir: PathLike, *, tp: int = 1, pp: int = 1, ep: int = 1, etp: Optional[int] = None,
              pp_first_layers: Optional[int] = None, pp_last_layers: Optional[int] = None, pad_vocab: bool = False,
              vision_layout: Optional[str] = None, format: str = "torch_dist", dtype: str = "keep",
              allow_unused: Sequence[str] = (), iteration: int = 0, overwrite: bool = False, jobs: Optional[int] = None,
              memory: Optional[Size] = None, progress: ProgressArg = True, common_state: str = "file",
              integrity_manifest: bool = True) -> Result:
    """Converts an HF checkpoint into a Megatron-Core checkpoint, bit-exact (what ``ckpt-bridge import`` writes).

    Args: those of :func:`plan_import`, and
        overwrite: replace ``out_dir`` if it is a Megatron checkpoint (only once the new one is complete).
        integrity_manifest: write megatron-core's ``integrity.json`` (SHA-256 of every file; torch_dist only).
        jobs: writer threads (default: the number of cores). memory: bytes held at once (default 256 MB).
        progress: True for a bar on a terminal (silent otherwise), False for none, or a callable
            ``(bytes_done, bytes_total, tensor) -> bool`` that returns False to cancel; a cancelled call raises
            :class:`~ckpt_bridge.CancelledError` and the output folder is never created.
    """
    fields = _import_fields(hf_dir, out_dir, tp, pp, ep, etp, pp_first_layers, pp_last_layers, pad_vocab, vision_layout,
                            format, dtype, allow_unused, iteration, common_state)
    fields.update(overwrite=overwrite, jobs=jobs, memory=memory, integrity_manifest=integrity_manifest)
    watch, close = observer(progress)
    try:
        return _result(_native.call_with_progress("import", fields, watch))
    finally:
        close()


def export_hf(megatron_dir: PathLike, out_dir: PathLike, *, hf_config: Optional[PathLike] = None, expert_layout: Optional[str] = None,
              max_shard_size: Size = "5GB", dtype: str = "keep", allow_unused: Sequence[str] = (), quantize: Optional[str] = None, overwrite: bool = False,
              jobs: Optional[int] = None, memory: Optional[Size] = None, progress: ProgressArg = True,
              iteration: Union[int, str, None] = None, weights: str = "model") -> Result:
    """Converts a Megatron checkpoint (torch_dist or legacy, its root or one iteration folder) back to HF.

    Args:
        hf_config: an HF folder whose config.json to use (default: the copy import stored, else run_config.yaml).
        expert_layout: "hub" (fused [E,H,2I], as on the Hub; the default), "v5" (fused [E,2I,H]; the default with
            quantize) or "per-expert".
        quantize: "fp8-block" or "fp8-block:ROWSxCOLS": fine-grained FP8 as the Hub's FP8 releases (as the CLI's --quantize).
        max_shard_size: bytes, or a string such as "5GB" (decimal) or "2GiB".
        overwrite, jobs, memory, progress: as for :func:`import_hf`.
        iteration: N or "release": read ``iter_NNNNNNN/`` under a checkpoint root instead of the tracker's.
        weights: "model" (the model's parameters) or "main-params" (a training checkpoint's fp32 master weights).
    """
    fields = dict(megatron_dir=_path(megatron_dir), out_dir=_path(out_dir), hf_config=_path(hf_config), expert_layout=expert_layout,
                  max_shard_size=max_shard_size, dtype=dtype, allow_unused=list(allow_unused), quantize=quantize, overwrite=overwrite,
                  jobs=jobs, memory=memory, iteration=iteration, weights=weights)
    watch, close = observer(progress)
    try:
        return _result(_native.call_with_progress("export", fields, watch))
    finally:
        close()


def diff(a: PathLike, b: PathLike, *, jobs: Optional[int] = None) -> Diff:
    """Compares two checkpoints of any formats tensor by tensor (Megatron ones through their global tensors)."""
    r = _native.call("diff", dict(a=_path(a), b=_path(b), jobs=jobs))
    return Diff(r["equal"], r["compared"], r["missing_in_b"], r["extra_in_b"], r["differing"])


def verify(hf_dir: PathLike, megatron_dir: PathLike, max_abs: float = 5e-5, inputs: Optional[PathLike] = None, *,
           prefix: Optional[str] = None, merger_gelu: str = "exact", threads: Optional[int] = None) -> Report:
    """Runs both checkpoints through the fp32 reference forward pass and compares their logits.

    Args:
        inputs: a safetensors file of inputs (input_ids, optionally pixel_values and image_grid_thw); default:
            the built-in text and image prompts.
    """
    r = _native.call("verify", dict(hf_dir=_path(hf_dir), megatron_dir=_path(megatron_dir), max_abs=max_abs, inputs=_path(inputs),
                                    prefix=prefix, merger_gelu=merger_gelu, threads=threads))
    return Report(r["pass"], r["inputs"], r)


def forward(path: PathLike, out: PathLike, *, inputs: Optional[PathLike] = None, prefix: Optional[str] = None,
            hf_config: Optional[PathLike] = None, merger_gelu: str = "exact", threads: Optional[int] = None) -> Dict[str, Any]:
    """Runs the reference forward pass on any checkpoint and writes the logits (safetensors) to ``out``."""
    return _native.call("forward", dict(path=_path(path), out=_path(out), inputs=_path(inputs), prefix=prefix,
                                        hf_config=_path(hf_config), merger_gelu=merger_gelu, threads=threads))
