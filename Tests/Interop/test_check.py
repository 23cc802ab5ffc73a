"""`ckpt-bridge check` on checkpoints made by the upstream libraries passes, and on damaged ones lists every
problem.

Oracles: the torch_dist checkpoints Megatron-Bridge 0.3.1 (megatron-core 0.16.1) and 0.6.2 (megatron-core
0.19.2) saved, megatron-core 0.19.2's own Megatron-LM-style save (`megatron_core_019/`, checked against the HF
config it was made from), and the safetensors folders transformers 5.24 and 4.57 saved (Fixtures/README.md): each is a
checkpoint those libraries load, so every check must pass on it. The damage is made here with the standard
library (the byte to flip is found through the zip local headers).
"""
import json
import os
import shutil

import pytest

from conftest import cli, fixture, iteration_dir

UPSTREAM = [
    "qwen3_vl_dense_tiny/bridge_tp1_ep1/megatron", "qwen3_vl_dense_tiny/bridge_tp2_ep1/megatron",
    "qwen3_vl_dense_tiny/bridge06_tp2_ep1/megatron", "qwen3_vl_moe_tiny/bridge_tp1_ep2/megatron",
    "qwen3_vl_moe_tiny/bridge06_tp1_ep2/megatron", "qwen3_vl_moe_tiny/hf", "qwen3_vl_moe_tiny/hf_v4",
    "qwen3_vl_dense_tiny/hf", "qwen3_vl_dense_tiny/hf_bf16",
]


def check_json(path, *flags):
    p = cli("check", path, "--json", *flags, check=False)
    return p, json.loads(p.stdout)


@pytest.mark.parametrize("rel", UPSTREAM)
def test_upstream_checkpoints_pass(rel):
    p, report = check_json(fixture(rel))
    assert p.returncode == 0, p.stdout + p.stderr
    assert report["ok"] and report["problem_count"] == 0
    assert all(c["ok"] and not c["skipped"] for c in report["checks"]), report
    names = [c["name"] for c in report["checks"]]
    if rel.endswith("/megatron"):
        assert report["format"] == "torch_dist"
        assert names == ["structure", "integrity.json", "chunks and zip CRC-32", "config"]
    else:
        assert report["format"] == "safetensors" and names == ["headers and index", "config"]


def test_megatron_core_019_save_passes_with_its_hf_config():
    p, report = check_json(fixture("megatron_core_019/dense_tiny_train"), "--hf-config", fixture("qwen3_vl_dense_tiny/hf_bf16"))
    assert p.returncode == 0 and report["ok"], p.stdout + p.stderr
    assert "common_state/shard_0_1" in report["checks"][0]["detail"]
    # Without a config it cannot check the tensors against the mapping table, and says so (fail closed).
    p, report = check_json(fixture("megatron_core_019/dense_tiny_train"))
    assert p.returncode == 2 and [c["name"] for c in report["checks"] if not c["ok"]] == ["config"]


@pytest.mark.parametrize("flags", [["--tp", "2", "--ep", "2", "--vision-layout", "hf"], ["--format", "legacy", "--ep", "2"]])
def test_our_imports_pass(out, flags):
    meg = out / "megatron"
    cli("import", fixture("qwen3_vl_moe_tiny/hf"), meg, *flags)
    p, report = check_json(meg)
    assert p.returncode == 0 and report["ok"], p.stdout + p.stderr
    integrity = next(c for c in report["checks"] if c["name"] == "integrity.json")
    assert ("every SHA-256 matches" in integrity["detail"]) == ("legacy" not in flags)


def _flip_payload_byte(path, entry_suffix):
    """Inverts a byte in the middle of the first zip entry named `*entry_suffix` (zips back to back in a .distcp)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    start = 0
    while True:
        at = data.find(b"PK\x03\x04", start)
        assert at >= 0, "no entry found"
        name_len, extra_len = int.from_bytes(data[at + 26:at + 28], "little"), int.from_bytes(data[at + 28:at + 30], "little")
        size = int.from_bytes(data[at + 18:at + 22], "little")
        name = bytes(data[at + 30:at + 30 + name_len]).decode()
        payload = at + 30 + name_len + extra_len
        if name.endswith(entry_suffix) and size > 0:
            data[payload + size // 2] ^= 0xFF
            break
        start = at + 4
    with open(path, "wb") as f:
        f.write(data)


def test_damaged_checkpoint_lists_every_problem(out):
    meg = out / "megatron"
    cli("import", fixture("qwen3_vl_moe_tiny/hf"), meg, "--ep", "2")
    d = iteration_dir(str(meg))
    _flip_payload_byte(os.path.join(d, "__0_0.distcp"), "data/0")
    shutil.copy(os.path.join(d, "__1_0.distcp"), os.path.join(d, "__5_0.distcp"))
    before = {n: os.path.getmtime(os.path.join(d, n)) for n in os.listdir(d)}
    p, report = check_json(meg)
    assert p.returncode == 2 and not report["ok"]
    failed = {c["name"]: c["problems"] for c in report["checks"] if not c["ok"]}
    assert any("not named by .metadata" in x["error"] for x in failed["structure"])
    assert {x["error"].split(" ")[0] for x in failed["integrity.json"]} >= {"SHA-256", "__5_0.distcp"}
    assert any("CRC" in x["error"] and x["file"].endswith("__0_0.distcp") and "byte_offset" in x for x in failed["chunks and zip CRC-32"])
    assert report["problem_count"] == sum(len(v) for v in failed.values()) >= 4
    errors = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and f"{report['problem_count']} problems" in errors[0]
    assert {n: os.path.getmtime(os.path.join(d, n)) for n in os.listdir(d)} == before, "check changed the checkpoint"
    # Without the manifest the same damage is still found, by the CRC-32s.
    os.remove(os.path.join(d, "integrity.json"))
    os.remove(os.path.join(d, "__5_0.distcp"))
    p, report = check_json(meg)
    assert p.returncode == 2 and report["problem_count"] == 1
    assert "CRC" in report["checks"][2]["problems"][0]["error"]
