"""Shared helpers for the split-conversion tests (Tests/Cluster, `make cluster`, part of `make test`).

A conversion split over nodes (`import/export --nodes N --node K`, then `finalize`) must give exactly the
bytes of the same conversion on one machine, so every test compares against a single-node run of the
release CLI; that output is in turn checked against torch / megatron-core / transformers by Tests/Interop.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests"))
from file_trees import tree  # noqa: E402,F401  (the tests take it from here)
CLI = os.path.abspath(os.environ.get("CKPT_BRIDGE", os.path.join(ROOT, ".build", "release", "ckpt-bridge")))
HF_MOE = os.path.join(ROOT, "Fixtures", "qwen3_vl_moe_tiny", "hf")
# TP2·EP4 on the MoE fixture: 8 writer ranks, so 8 .distcp files of unequal sizes for 4 nodes.
IMPORT_ARGS = ["--tp", "2", "--ep", "4", "--vision-layout", "hf", "--jobs", "1"]
# Small shards, so the export has more shards (7) than nodes.
EXPORT_ARGS = ["--max-shard-size", "500KB", "--jobs", "1"]

# Variables that would give a node identity to every CLI run of the tests (a test run inside a Slurm job).
IDENTITY_VARIABLES = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_PROCID",
                      "SLURM_NTASKS", "RANK", "WORLD_SIZE", "CKPT_BRIDGE_KILL_AT"]


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARIABLES}
    env["OPENBLAS_NUM_THREADS"] = "1"
    env.update(extra or {})
    return env


def run(args, env=None, check=False):
    p = subprocess.run([CLI, *map(str, args)], env=clean_env(env), capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"ckpt-bridge {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def start(args, env=None):
    return subprocess.Popen([CLI, *map(str, args)], env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(parent):
    """Partial folders and staging areas left beside the outputs."""
    return sorted(n for n in os.listdir(parent) if ".partial-" in n or n.endswith(".staging"))


@pytest.fixture(scope="session")
def single(tmp_path_factory):
    """The single-node reference outputs: the TP2·EP4 import of the MoE fixture and its export."""
    base = tmp_path_factory.mktemp("single")
    mg, hf = str(base / "mg"), str(base / "hf")
    run(["import", HF_MOE, mg, *IMPORT_ARGS], check=True)
    run(["export", mg, hf, *EXPORT_ARGS], check=True)
    return {"mg": mg, "hf": hf, "mg_tree": tree(mg), "hf_tree": tree(hf)}


def finalize_json(out, *extra):
    p = run(["finalize", out, "--json", *extra])
    return p, json.loads(p.stdout) if p.stdout.strip() else None
