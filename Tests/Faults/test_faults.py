"""Fault tests: the release CLI killed with SIGKILL at each of its output writes and commit steps.

`CKPT_BRIDGE_KILL_AT=write:N` makes the process kill itself just before its N-th positional write,
`commit:STEP` at a step of the output folder's commit (`synced`: all files flushed, before the rename;
`renamed`: the new output in place, the old one not yet removed). After each kill: the final path holds
nothing (fresh output) or exactly the old output (with --overwrite), or exactly the new complete one once
the rename happened; a rerun succeeds, equals the reference output, and leaves no partial folder behind.
A file-size limit (RLIMIT_FSIZE) gives an EFBIG error with its hint instead of a silent death.
Run by `make faults` (part of `make test`).
"""
import os
import resource
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests"))
from file_trees import tree  # noqa: E402
CLI = os.path.abspath(os.environ.get("CKPT_BRIDGE", os.path.join(ROOT, ".build", "release", "ckpt-bridge")))
HF = os.path.join(ROOT, "Fixtures", "qwen3_vl_moe_tiny", "hf")


def run(args, kill_at=None, preexec=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("CKPT_BRIDGE_KILL_AT", None)
    if kill_at:
        env["CKPT_BRIDGE_KILL_AT"] = kill_at
    return subprocess.run([CLI] + args + ["--quiet"], env=env, capture_output=True, text=True, timeout=120, preexec_fn=preexec)


def partials(parent):
    return sorted(n for n in os.listdir(parent) if ".partial-" in n)


# name -> (the command under test, a command that writes an older, different output at the same path)
COMMANDS = {
    "import-torch-dist": (lambda src, out: ["import", src, out, "--tp", "2", "--ep", "2", "--vision-layout", "hf", "--jobs", "1"],
                          lambda src, out: ["import", src, out, "--jobs", "1"]),
    "import-legacy": (lambda src, out: ["import", src, out, "--format", "legacy", "--tp", "2", "--vision-layout", "hf", "--jobs", "1"],
                      lambda src, out: ["import", src, out, "--format", "legacy", "--jobs", "1"]),
    "export-hf": (lambda src, out: ["export", src, out, "--max-shard-size", "200KB", "--jobs", "1"],
                  lambda src, out: ["export", src, out, "--jobs", "1"]),
}


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """The source of each command and its reference output, made by uninterrupted runs."""
    base = tmp_path_factory.mktemp("fault-refs")
    mg = str(base / "mg")
    assert run(["import", HF, mg]).returncode == 0
    out = {}
    for name, (cmd, _) in COMMANDS.items():
        src = mg if name.startswith("export") else HF
        ref = str(base / f"ref-{name}")
        r = run(cmd(src, ref))
        assert r.returncode == 0, r.stderr
        out[name] = (src, tree(ref))
    return out


POINTS = [f"write:{n}" for n in (1, 2, 3, 5, 8)] + ["commit:synced", "commit:renamed"]
CASES = [(name, point, overwrite) for name in COMMANDS for point in POINTS for overwrite in (False, True)]


@pytest.mark.parametrize("name,point,overwrite", CASES, ids=[f"{n}-{p}-{'overwrite' if o else 'fresh'}" for n, p, o in CASES])
def test_killed_run_leaves_old_or_nothing_and_a_rerun_recovers(refs, tmp_path, name, point, overwrite):
    cmd, older = COMMANDS[name]
    src, reference = refs[name]
    out = str(tmp_path / "out")
    old = None
    if overwrite:
        # An older output at the same path: another layout for imports, other shards for the export.
        assert run(older(src, out)).returncode == 0
        old = tree(out)
        assert old != reference
    args = cmd(src, out) + (["--overwrite"] if overwrite else [])
    r = run(args, kill_at=point)
    if r.returncode == 0:
        # The run needed fewer writes than the kill point: nothing to test at this point for this command.
        assert point.startswith("write:") and tree(out) == reference
        return
    assert r.returncode == -9, f"exit {r.returncode}: {r.stderr[-1000:]}"
    after = tree(out)
    if point == "commit:renamed":
        assert after == reference, "after the rename the final path holds the complete new output"
    else:
        assert after == old, "a killed run left something other than the old output (or nothing) at the final path"
    # The rerun removes the dead run's partial folder and writes the same output as an uninterrupted run.
    r = run(args if overwrite or after is None else args + ["--overwrite"])
    assert r.returncode == 0, r.stderr
    assert tree(out) == reference
    assert partials(str(tmp_path)) == []


def test_write_points_are_reached(refs, tmp_path):
    """The kill points above fall inside every command's writes (otherwise the cases test nothing)."""
    for name, (cmd, _) in COMMANDS.items():
        src, _ = refs[name]
        r = run(cmd(src, str(tmp_path / name)), kill_at="write:8")
        assert r.returncode == -9, f"{name} finished in fewer than 8 writes"


def test_file_size_limit_is_an_efbig_error(refs, tmp_path):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    out = str(tmp_path / "out")
    r = run(["import", HF, out, "--jobs", "1"], preexec=limit)
    assert r.returncode == 2, r.stderr
    assert "EFBIG" in r.stderr and "hint:" in r.stderr
    assert not os.path.exists(out) and partials(str(tmp_path)) == []


def test_read_only_output_folder_names_eacces(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions (EACCES cannot happen)")
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        r = run(["import", HF, str(parent / "out")])
        assert r.returncode == 2 and "EACCES" in r.stderr
    finally:
        parent.chmod(0o755)


def _mount_tmpfs(path, size):
    """Mounts a tmpfs of `size` at `path`; a reason to skip when this machine does not allow it."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (run as root, or in a container with CAP_SYS_ADMIN)"
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        return f"mount -t tmpfs is not permitted here ({p.stderr.strip() or p.returncode}): no real full disk to test with"
    return None


@pytest.mark.parametrize("name", ["import-torch-dist", "export-hf"])
def test_full_disk_is_an_enospc_error_with_its_own_hint(refs, tmp_path, name):
    """A real full disk (a 1 MB tmpfs, the output needs 3 MB): ENOSPC named, the full-disk hint, and nothing
    left on the small disk (the partial folder is removed, so the space is given back)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    why = _mount_tmpfs(disk, "1m")
    if why:
        pytest.skip(why)
    try:
        cmd, _ = COMMANDS[name]
        src, _ = refs[name]
        out = str(disk / "out")
        r = run(cmd(src, out))
        assert r.returncode == 2, r.stderr
        error = [l for l in r.stderr.splitlines() if l.startswith("error: ")]
        hint = [l for l in r.stderr.splitlines() if l.startswith("hint: ")]
        assert len(error) == 1 and "ENOSPC" in error[0], r.stderr
        assert hint == ["hint: the disk is full: free space or write the output to another disk"], r.stderr
        assert os.listdir(disk) == [], "a failed run left files on the full disk"
    finally:
        subprocess.run(["umount", str(disk)], check=True)
