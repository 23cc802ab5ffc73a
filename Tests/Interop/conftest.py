"""Shared helpers for the interop tests: real torch, megatron-core and transformers read what
ckpt-bridge writes, and ckpt-bridge reads what they write.

Run with `make interop` (or `make test`), which builds the release CLI and the venv first.
"""
import json
import os
import subprocess
import sys
import warnings

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
CACHE = os.path.join(FIXTURES, ".cache", "oracle")
sys.path.insert(0, os.path.join(ROOT, "Tests"))
from file_trees import tree  # noqa: E402,F401  (the tests take it from here)
CLI = os.environ.get("CKPT_BRIDGE", os.path.join(ROOT, ".build", "release", "ckpt-bridge"))

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore")


def fixture(rel):
    """A fixture path: plain under Fixtures/, else from the unpacked oracle archive."""
    plain = os.path.join(FIXTURES, rel)
    if os.path.exists(plain):
        return plain
    if not os.path.isfile(os.path.join(CACHE, ".complete")):
        # The Swift tests unpack the archive with libzstd; a standalone interop run unpacks it here.
        tmp = CACHE + ".tmp-py"
        os.makedirs(tmp, exist_ok=True)
        subprocess.run(f"zstd -d --long=27 -c '{FIXTURES}/oracle.tar.zst' | tar -x -C '{tmp}'", shell=True, check=True)
        with open(os.path.join(tmp, ".complete"), "w") as f:
            f.write(str(os.path.getsize(os.path.join(FIXTURES, "oracle.tar.zst"))))
        if os.path.exists(CACHE):
            subprocess.run(["rm", "-rf", CACHE], check=True)
        os.rename(tmp, CACHE)
    return os.path.join(CACHE, rel)


def cli(*args, check=True):
    """Runs the ckpt-bridge CLI; returns the completed process."""
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"ckpt-bridge {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def iteration_dir(d):
    if os.path.isfile(os.path.join(d, ".metadata")) or any(n.startswith("mp_rank_") for n in os.listdir(d)):
        return d
    it = open(os.path.join(d, "latest_checkpointed_iteration.txt")).read().strip()
    return os.path.join(d, it if not it.isdigit() else f"iter_{int(it):07d}")


def allow_megatron_globals():
    """What megatron-core does on import (register_safe_globals): common.pt's args is an argparse.Namespace."""
    import argparse
    import torch
    torch.serialization.add_safe_globals([argparse.Namespace])


def dcp_global_tensors(d):
    """Every tensor of a torch_dist folder, read with torch.distributed.checkpoint (no process group)."""
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata
    d = iteration_dir(d)
    md = FileSystemReader(d).read_metadata()
    state = {k: torch.empty(list(m.size), dtype=m.properties.dtype)
             for k, m in md.state_dict_metadata.items() if isinstance(m, TensorStorageMetadata)}
    dcp.load(state, storage_reader=FileSystemReader(d), no_dist=True)
    return state, md


@pytest.fixture
def out(tmp_path):
    return tmp_path
