"""A real Slurm (Debian's slurm-wlm with munge, one machine): the split import submitted as a job array, the
finalize job depending on it, and the result byte-identical to the single-node import; then a node killed
mid-way under Slurm, named by finalize, and resubmitted alone with `sbatch --array=1`.

Skipped, saying why, only where the daemons cannot start here (`make cluster-deps` installs the packages)."""
import json
import os

import pytest

from conftest import CLI, HF_MOE, IMPORT_ARGS, clean_env, leftovers, tree
from slurm_cluster import SlurmCluster, Unavailable


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except Unavailable as e:
        cluster.stop()
        pytest.skip(f"a one-machine Slurm cluster cannot start here: {e}")
    # Jobs inherit the submitting environment: no node identity or kill point of the test runner leaks in.
    cluster.env = clean_env({"SLURM_CONF": cluster.conf})
    yield cluster
    cluster.stop()


def job_script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/bash\nset -e\n" + body)
    os.chmod(path, 0o755)
    return path


def read(path):
    with open(path) as f:
        return f.read()


def test_array_import_then_dependent_finalize_equals_single_node(slurm, single, tmp_path):
    out = str(tmp_path / "mg")
    args = " ".join([HF_MOE, out, *IMPORT_ARGS])
    # The node identity comes from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT alone.
    script = job_script(tmp_path / "convert.sh", f"exec {CLI} import {args} --no-finalize\n")
    array = slurm.sbatch("--array=0-3", "-J", "convert", "-o", str(tmp_path / "node-%a.out"), str(script))
    final, rc = slurm.sbatch(f"--dependency=afterok:{array}", "-J", "finalize", "-o", str(tmp_path / "finalize.out"),
                             "--wrap", f"exec {CLI} finalize {out} --json", wait=True)
    logs = "\n".join(read(tmp_path / n) for n in sorted(os.listdir(tmp_path)) if n.endswith(".out"))
    assert rc == 0, f"finalize job {final} exited {rc}:\n{logs}\n{slurm.logs()}"
    for k in range(4):
        assert f"node {k} of 4 (from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)" in read(tmp_path / f"node-{k}.out")
    report = json.loads(read(tmp_path / "finalize.out"))
    assert report["status"] == "finalized" and report["nodes"] == 4 and report["files"] == 8, report
    assert tree(out) == single["mg_tree"]
    assert leftovers(str(tmp_path)) == []


def test_node_killed_under_slurm_is_named_and_resubmitted_alone(slurm, single, tmp_path):
    out = str(tmp_path / "mg")
    args = " ".join([HF_MOE, out, *IMPORT_ARGS])
    once = tmp_path / "killed-once"
    # --nodes 4 in the script, so that a smaller array (a rerun) still splits four ways; task 1 dies with
    # SIGKILL at its third write the first time it runs.
    script = job_script(tmp_path / "convert.sh", f"""\
if [ "$SLURM_ARRAY_TASK_ID" = 1 ] && [ ! -e {once} ]; then touch {once}; export CKPT_BRIDGE_KILL_AT=write:3; fi
exec {CLI} import {args} --nodes 4
""")
    array = slurm.sbatch("--array=0-3", "-o", str(tmp_path / "node-%a.out"), str(script))
    _, rc = slurm.sbatch(f"--dependency=afterany:{array}", "-o", str(tmp_path / "finalize.out"),
                         "--wrap", f"exec {CLI} finalize {out}", wait=True)
    assert rc != 0 and os.path.exists(once)
    message = read(tmp_path / "finalize.out")
    assert "rerun node 1" in message and "sbatch --array=1" in message, message
    assert not os.path.exists(out)

    # Only node 1 again; being the last to finish, it finalizes.
    _, rc = slurm.sbatch("--array=1", "-o", str(tmp_path / "rerun-%a.out"), str(script), wait=True)
    rerun = read(tmp_path / "rerun-1.out")
    assert rc == 0, rerun
    assert "node 1 of 4 (from --nodes/SLURM_ARRAY_TASK_ID)" in rerun and "finalized " in rerun, rerun
    assert tree(out) == single["mg_tree"]
    assert leftovers(str(tmp_path)) == []
