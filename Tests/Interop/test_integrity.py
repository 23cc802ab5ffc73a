"""integrity.json as megatron-core writes and checks it.

The oracle is megatron-core's own manifest rule (`dist_checkpointing/validation.py`, functions
`save_integrity_manifest` and `_verify_integrity_manifest_impl`, Megatron-LM commit d98e8a6): every regular
file directly in the iteration folder except integrity.json, by bare name in sorted order, hashed with
hashlib's SHA-256 (lowercase hex), dumped with `json.dump({"algorithm": "sha256", "files": …}, indent=2)`.
The megatron-core pinned in the interop venv (0.16.1) predates these functions, so the rule is re-stated
here with hashlib and json; where the installed megatron-core has the verifier, it is run as well.
"""
import hashlib
import json
import os

import pytest

from conftest import cli, fixture, iteration_dir


def upstream_manifest_bytes(d):
    """What megatron-core's save_integrity_manifest would write for folder `d`."""
    files = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if os.path.isfile(p) and name != "integrity.json":
            with open(p, "rb") as f:
                files[name] = hashlib.sha256(f.read()).hexdigest()
    return json.dumps({"algorithm": "sha256", "files": files}, indent=2).encode()


def upstream_verifier():
    try:
        from megatron.core.dist_checkpointing import validation
    except Exception:  # noqa: BLE001 - any import failure means no verifier to run
        return None
    return getattr(validation, "_verify_integrity_manifest_impl", None)


@pytest.mark.parametrize("model,flags", [("qwen3_vl_moe_tiny", ["--tp", "2", "--ep", "2", "--vision-layout", "hf"]),
                                         ("qwen3_vl_dense_tiny", ["--tp", "1", "--dtype", "bf16"])])
def test_import_writes_megatron_core_manifest(out, model, flags):
    meg = out / "megatron"
    cli("import", fixture(f"{model}/hf"), meg, *flags)
    d = iteration_dir(str(meg))
    with open(os.path.join(d, "integrity.json"), "rb") as f:
        ours = f.read()
    assert ours == upstream_manifest_bytes(d)
    listed = json.loads(ours)["files"]
    assert {".metadata", "common.pt", "metadata.json", "run_config.yaml"} <= set(listed)
    assert any(n.endswith(".distcp") for n in listed)
    assert all(len(h) == 64 and h == h.lower() for h in listed.values())
    verify = upstream_verifier()
    if verify is not None:
        verify(d)


def test_no_integrity_manifest_flag(out):
    meg = out / "megatron"
    cli("import", fixture("qwen3_vl_moe_tiny/hf"), meg, "--no-integrity-manifest")
    assert not os.path.exists(os.path.join(iteration_dir(str(meg)), "integrity.json"))


def test_legacy_import_writes_no_manifest(out):
    # megatron-core: "verify_integrity is only supported with torch_dist checkpoint format".
    meg = out / "megatron"
    cli("import", fixture("qwen3_vl_moe_tiny/hf"), meg, "--format", "legacy")
    assert not os.path.exists(os.path.join(iteration_dir(str(meg)), "integrity.json"))


def test_export_refuses_a_file_changed_after_the_manifest(out):
    meg = out / "megatron"
    cli("import", fixture("qwen3_vl_moe_tiny/hf"), meg, "--ep", "2")
    d = iteration_dir(str(meg))
    # A change that keeps every zip CRC right (run_config.yaml is plain text): only the manifest can see it.
    with open(os.path.join(d, "run_config.yaml"), "a") as f:
        f.write("# edited\n")
    p = cli("export", meg, out / "hf", check=False)
    assert p.returncode == 2, p.stderr
    assert "SHA-256 of run_config.yaml" in p.stderr and "integrity.json says" in p.stderr
    assert not (out / "hf").exists()
    os.remove(os.path.join(d, "integrity.json"))
    assert cli("export", meg, out / "hf2", check=False).returncode == 0
