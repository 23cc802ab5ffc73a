"""The wheel (scripts/build-wheel.py, `make wheel`) installed into a fresh venv with no torch and no numpy:
it converts a fixture through the Python API and through the `ckpt-bridge` console entry point, the output
equals the CLI's byte for byte, torch is never imported, and `ldd` of the bundled library and CLI resolves
nothing from the Swift toolchain's folder."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import CLI, ROOT, cli, fixture, tree

TOOLCHAIN = os.path.dirname(os.path.dirname(os.path.realpath(shutil.which("swift")))) if shutil.which("swift") else None


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A venv made by the interop Python without system site-packages, with only the wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "build-wheel.py"), "--build", os.path.dirname(CLI),
                    "--dist", str(dist)], check=True, capture_output=True, text=True)
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    p = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheels[0])],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return venv, wheels[0]


def clean_env():
    """The environment without anything that could point at the build tree or the toolchain."""
    env = {k: v for k, v in os.environ.items() if k not in ("CKPT_BRIDGE_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH", "CKPT_BRIDGE")}
    env["PATH"] = "/usr/bin:/bin"
    return env


def test_wheel_converts_a_fixture_without_torch(fresh_venv, tmp_path):
    venv, _ = fresh_venv
    py = venv / "bin" / "python"
    hf = fixture("qwen3_vl_moe_tiny/hf")
    script = f"""
import sys, ckpt_bridge as cb
assert cb._native.NATIVE in cb._native.lib._name, cb._native.lib._name
r = cb.import_hf({hf!r}, {str(tmp_path / 'py')!r}, tp=2, ep=2, vision_layout="hf")
e = cb.export_hf({str(tmp_path / 'py')!r}, {str(tmp_path / 'py_hf')!r}, expert_layout="v5")
assert cb.diff({hf!r}, {str(tmp_path / 'py_hf')!r}).equal
print("torch" in sys.modules, "numpy" in sys.modules, r.tensors, e.tensors)
"""
    p = subprocess.run([str(py), "-c", script], capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split()[:2] == ["False", "False"], p.stdout
    p = subprocess.run([str(py), "-c", "import torch"], capture_output=True, text=True, env=clean_env())
    assert p.returncode != 0, "the fresh venv must not have torch"
    cli("import", hf, tmp_path / "cli", "--tp", "2", "--ep", "2", "--vision-layout", "hf")
    assert tree(tmp_path / "py") == tree(tmp_path / "cli")


def test_console_entry_point_runs_the_bundled_cli(fresh_venv, tmp_path):
    venv, _ = fresh_venv
    exe = venv / "bin" / "ckpt-bridge"
    assert exe.exists()
    hf = fixture("qwen3_vl_dense_tiny/hf")
    p = subprocess.run([str(exe), "import", hf, str(tmp_path / "meg"), "--tp", "2"], capture_output=True, text=True, env=clean_env())
    assert p.returncode == 0, p.stdout + p.stderr
    cli("import", hf, tmp_path / "cli", "--tp", "2")
    assert tree(tmp_path / "meg") == tree(tmp_path / "cli")
    p = subprocess.run([str(exe), "diff", hf, fixture("qwen3_vl_moe_tiny/hf")], capture_output=True, text=True, env=clean_env())
    assert p.returncode == 1


@pytest.mark.skipif(TOOLCHAIN is None, reason="no Swift toolchain to compare against")
def test_bundled_binaries_resolve_nothing_from_the_toolchain(fresh_venv):
    venv, wheel = fresh_venv
    native = next(venv.glob("lib/python*/site-packages/ckpt_bridge/_native"))
    for name in ("libCheckpointBridgeC.so", "ckpt-bridge"):
        out = subprocess.run(["ldd", str(native / name)], capture_output=True, text=True, env=clean_env(), check=True).stdout
        resolved = re.findall(r"=>\s+(\S+)", out)
        assert resolved and "not found" not in out, out
        from_toolchain = [p for p in resolved if os.path.realpath(p).startswith(TOOLCHAIN + os.sep)]
        assert not from_toolchain, from_toolchain
        assert any(os.path.dirname(os.path.realpath(p)) == os.path.realpath(native) for p in resolved), out
    assert os.path.getsize(wheel) < 200e6
