"""Rank-local streaming: the tensors one Megatron rank holds, read straight from an HF checkpoint.

``rank_state_dict`` yields ``(megatron_key, array)`` for exactly the tensors rank (tp, pp, ep) of the layout
holds, named and shaped as the import writes them (the legacy rank file's "model" entries, which are the
keys of the rank's ``model.state_dict()`` with Transformer-Engine layer names), one at a time: nothing is
converted on disk and memory holds one tensor at a time besides what the caller keeps.
"""
from __future__ import annotations

import ctypes
import json
import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

from . import _native

# numpy dtypes of the engine's dtypes; BF16 has none in numpy: its raw bits come as uint16.
_NUMPY = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "uint16", "I64": "int64", "I32": "int32",
          "I16": "int16", "I8": "int8", "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64", "BOOL": "bool"}
_TORCH = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
          "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


@dataclass(frozen=True)
class Layout:
    """A Megatron parallel layout (the import's --tp --pp --ep --etp ...)."""

    tp: int = 1
    pp: int = 1
    ep: int = 1
    etp: Optional[int] = None
    pp_first_layers: Optional[int] = None
    pp_last_layers: Optional[int] = None
    pad_vocab: bool = False


@dataclass(frozen=True)
class Rank:
    """One rank of a layout: its tensor-, pipeline- and expert-parallel ranks."""

    tp: int = 0
    pp: int = 0
    ep: int = 0


def _layout(layout: Union[Layout, dict]) -> Layout:
    return layout if isinstance(layout, Layout) else Layout(**layout)


def _rank(rank: Union[Rank, dict, Sequence[int]]) -> Rank:
    if isinstance(rank, Rank):
        return rank
    return Rank(**rank) if isinstance(rank, dict) else Rank(*rank)


class RankReader:
    """An open rank reader (the C ABI's ckpt_bridge_rank_reader); closed when the last array viewing its
    mapped memory is gone."""

    def __init__(self, fields: dict):
        handle = ctypes.c_void_p()
        self.listing = _native.take(_native.lib.ckpt_bridge_rank_open(_native.request(fields), ctypes.byref(handle)))
        self.handle = handle

    def read_into(self, index: int, address: int, nbytes: int):
        err = _native.lib.ckpt_bridge_rank_read(self.handle, index, address, nbytes)
        if err:
            _native.take(err)

    def view(self, index: int, nbytes: int):
        """A ctypes byte array over the mapped bytes (keeps this reader open), or None."""
        address = _native.lib.ckpt_bridge_rank_view(self.handle, index)
        if not address:
            return None
        buf = (ctypes.c_char * nbytes).from_address(address)
        buf._reader = self  # the mapping lives as long as any array over it
        return buf

    def __del__(self):
        if getattr(self, "handle", None) and self.handle.value:
            _native.lib.ckpt_bridge_rank_close(self.handle)
            self.handle = ctypes.c_void_p()


def _numpy_array(reader: RankReader, t: dict, copy: bool):
    import numpy as np
    dtype = np.dtype(_NUMPY[t["dtype"]])
    view = None if copy or t["bytes"] == 0 else reader.view(t["index"], t["bytes"])
    if view is not None:
        a = np.frombuffer(view, dtype=dtype).reshape(t["shape"])
        a.flags.writeable = False  # the mapping is read-only
        return a
    a = np.empty(t["shape"], dtype=dtype)
    if t["bytes"]:
        reader.read_into(t["index"], a.ctypes.data, t["bytes"])
    return a


def _torch_tensor(reader: RankReader, t: dict, copy: bool):
    import torch
    dtype = getattr(torch, _TORCH[t["dtype"]])
    view = None if copy or t["bytes"] == 0 else reader.view(t["index"], t["bytes"])
    if view is not None:
        import warnings
        with warnings.catch_warnings():  # torch warns that the buffer is shared; it is, and read-only
            warnings.simplefilter("ignore")
            return torch.frombuffer(view, dtype=dtype).reshape(t["shape"])
    x = torch.empty(t["shape"], dtype=dtype)
    if t["bytes"]:
        reader.read_into(t["index"], x.data_ptr(), t["bytes"])
    return x


def rank_tensors(hf_dir, *, layout: Union[Layout, dict], rank: Union[Rank, dict, Sequence[int]], **options) -> dict:
    """The listing of what :func:`rank_state_dict` would yield: each tensor's name, dtype, shape and bytes."""
    return RankReader(_fields(hf_dir, layout, rank, options)).listing


def _fields(hf_dir, layout, rank, options) -> dict:
    l, r = _layout(layout), _rank(rank)
    fields = dict(hf_dir=os.fspath(hf_dir), tp=l.tp, pp=l.pp, ep=l.ep, etp=l.etp, pp_first_layers=l.pp_first_layers,
                  pp_last_layers=l.pp_last_layers, pad_vocab=l.pad_vocab, rank=dict(tp=r.tp, pp=r.pp, ep=r.ep))
    for k, v in options.items():
        fields[k] = list(v) if k == "allow_unused" else v
    return fields


def rank_state_dict(hf_dir, *, layout: Union[Layout, dict], rank: Union[Rank, dict, Sequence[int]], as_torch: bool = False,
                    copy: bool = False, vision_layout: Optional[str] = None, dtype: str = "keep",
                    allow_unused: Sequence[str] = ()) -> Iterator[Tuple[str, Any]]:
    """Yields ``(megatron_key, array)`` for the tensors Megatron rank ``rank`` of ``layout`` holds, lazily.

    The import plan is built and checked first (every HF tensor used, every shape checked, divisibility), so a
    checkpoint the import would refuse raises :class:`~ckpt_bridge.CheckpointError` before anything is yielded.

    Args:
        layout: a :class:`Layout` or a dict such as ``{"tp": 2, "ep": 4}``.
        rank: a :class:`Rank`, a dict ``{"tp": 1, "ep": 3}`` or a tuple ``(tp, pp, ep)``.
        as_torch: torch tensors (``torch.frombuffer`` over the mapping, or a copy) instead of numpy arrays.
        copy: always copy; by default a tensor whose bytes lie in the file as one run of the right dtype
            is a read-only view over the memory-mapped file (no copy), and the others are copied.
        vision_layout, dtype, allow_unused: as for :func:`~ckpt_bridge.import_hf`.

    numpy has no bfloat16: with numpy, BF16 tensors come as their raw bits (uint16); use ``as_torch=True``
    for ``torch.bfloat16``.
    """
    reader = RankReader(_fields(hf_dir, layout, rank, dict(vision_layout=vision_layout, dtype=dtype, allow_unused=allow_unused)))
    make = _torch_tensor if as_torch else _numpy_array
    for t in reader.listing["tensors"]:
        yield t["name"], make(reader, t, copy)
