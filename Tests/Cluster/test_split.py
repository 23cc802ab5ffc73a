"""Split conversions on one machine: N node processes writing into one output folder's staging area give the
bytes of a single-node run, a killed or damaged node is named and its rerun alone is enough, and node
identities from Slurm / torchrun variables are read (or refused when they disagree)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import (CLI, EXPORT_ARGS, HF_MOE, IMPORT_ARGS, clean_env, finalize_json, leftovers, run, start, tree)


def run_nodes(cmd, nodes, envs=None, extra=()):
    """Starts every node at once (they share nothing but the folder) and waits for all of them."""
    procs = [start([*cmd, *extra], env=envs[k]) if envs else start([*cmd, "--nodes", nodes, "--node", k, *extra])
             for k in range(nodes)]
    outs = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for k, (out, err, rc) in enumerate(outs):
        assert rc == 0, f"node {k} exited {rc}:\n{out}\n{err}"
    return [o for o, _, _ in outs]


def test_import_tp2_ep4_four_concurrent_nodes_equal_one(single, tmp_path):
    out = str(tmp_path / "mg")
    stdouts = run_nodes(["import", HF_MOE, out, *IMPORT_ARGS], 4)
    # Exactly one node (the last to finish, holding the O_EXCL lock) assembled the output.
    assert sum("finalized " in s for s in stdouts) == 1, stdouts
    assert tree(out) == single["mg_tree"]
    assert leftovers(str(tmp_path)) == []
    # Each node wrote only its own .distcp files: the 8 writer ranks are spread over all 4 nodes.
    assert all("wrote " in s and " of 8 data files" in s for s in stdouts)
    assert not any("wrote 0 of" in s for s in stdouts)


def test_export_four_nodes_from_torchrun_variables_equal_one(single, tmp_path):
    out = str(tmp_path / "hf")
    envs = [{"RANK": str(k), "WORLD_SIZE": "4"} for k in range(4)]
    stdouts = run_nodes(["export", single["mg"], out, *EXPORT_ARGS], 4, envs=envs)
    assert all("(from RANK/WORLD_SIZE)" in s for s in stdouts), stdouts
    assert tree(out) == single["hf_tree"]
    assert leftovers(str(tmp_path)) == []


def test_torchrun_four_ranks_equal_one(single, tmp_path):
    """torchrun (torch.distributed.run from the interop venv's torch) sets RANK / WORLD_SIZE for each process."""
    pytest.importorskip("torch")
    out = str(tmp_path / "mg")
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4", "--no-python",
                        CLI, "import", HF_MOE, out, *IMPORT_ARGS], env=clean_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert all(f"node {k} of 4 (from RANK/WORLD_SIZE)" in p.stdout for k in range(4)), p.stdout
    assert tree(out) == single["mg_tree"]
    assert leftovers(str(tmp_path)) == []


def test_legacy_import_from_slurm_task_variables_equals_one(tmp_path):
    args = ["--format", "legacy", "--tp", "2", "--ep", "4", "--vision-layout", "hf", "--jobs", "1"]
    ref = str(tmp_path / "ref")
    run(["import", HF_MOE, ref, *args], check=True)
    out = str(tmp_path / "split")
    envs = [{"SLURM_PROCID": str(k), "SLURM_NTASKS": "3"} for k in range(3)]
    run_nodes(["import", HF_MOE, out, *args], 3, envs=envs)
    assert tree(out) == tree(ref)


def test_common_state_in_dcp_split_equals_one(tmp_path):
    """megatron-core 0.19's layout: the common state is an item of rank 0's .distcp, not common.pt."""
    args = [*IMPORT_ARGS, "--common-state", "dcp"]
    ref = str(tmp_path / "ref")
    run(["import", HF_MOE, ref, *args], check=True)
    out = str(tmp_path / "split")
    run_nodes(["import", HF_MOE, out, *args], 2)
    assert tree(out) == tree(ref) and "release/common.pt" not in tree(out)


@pytest.mark.parametrize("kill_at", ["write:3", "commit:synced"])
def test_killed_node_is_named_and_rerunning_only_it_finalizes(single, tmp_path, kill_at):
    out = str(tmp_path / "mg")
    cmd = ["import", HF_MOE, out, *IMPORT_ARGS, "--nodes", "4"]
    for k in (0, 2, 3):
        run([*cmd, "--node", k, "--no-finalize"], check=True)
    killed = run([*cmd, "--node", 1], env={"CKPT_BRIDGE_KILL_AT": kill_at})
    assert killed.returncode == -9, killed.stderr
    assert not os.path.exists(out)

    p, report = finalize_json(out)
    assert p.returncode == 2, p.stderr
    assert report["status"] == "incomplete" and report["rerun"] == [1], report
    assert "rerun node 1" in p.stderr and "--node 1" in p.stderr, p.stderr
    assert not os.path.exists(out), "a failed finalize wrote an output"

    # Node 1's rerun removes what the killed run left, writes its share, and (being last) finalizes.
    rerun = run([*cmd, "--node", 1], check=True)
    assert "finalized " in rerun.stdout, rerun.stdout
    assert tree(out) == single["mg_tree"]
    assert leftovers(str(tmp_path)) == []


def test_killed_finalize_is_taken_over_by_the_next(single, tmp_path):
    out = str(tmp_path / "hf")
    cmd = ["export", single["mg"], out, *EXPORT_ARGS, "--nodes", "4"]
    for k in range(4):
        run([*cmd, "--node", k, "--no-finalize"], check=True)
    # Killed after the files are linked into the output's partial folder, before the rename: the lock it
    # held names a dead process on this host, and the shares are intact (linked, not moved).
    killed = run(["finalize", out], env={"CKPT_BRIDGE_KILL_AT": "commit:synced"})
    assert killed.returncode == -9, killed.stderr
    assert not os.path.exists(out) and os.path.isfile(out + ".staging/finalize.lock")
    p, report = finalize_json(out)
    assert p.returncode == 0 and report["status"] == "finalized" and report["nodes"] == 4, (p.stderr, report)
    assert tree(out) == single["hf_tree"]
    assert leftovers(str(tmp_path)) == []
    # Finalizing again is a no-op that says so.
    p, report = finalize_json(out)
    assert p.returncode == 0 and report["status"] == "already finalized"


def test_damaged_truncated_and_foreign_shares_name_their_nodes(single, tmp_path):
    out = str(tmp_path / "mg")
    cmd = ["import", HF_MOE, out, *IMPORT_ARGS]
    for k in range(4):
        run([*cmd, "--nodes", 4, "--node", k, "--no-finalize"], check=True)
    staging = out + ".staging"
    # `plan import --nodes 4` shows exactly the files each node wrote.
    p = run(["plan", "import", HF_MOE, out, *IMPORT_ARGS[:-2], "--nodes", 4, "--json"], check=True)
    shares = json.loads(p.stdout)["split"]["shares"]
    for share in shares:
        folder = os.path.join(staging, f"node-{share['node']:04d}")
        written = {os.path.relpath(os.path.join(d, f), folder): os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(folder) for f in fs if f.endswith(".distcp")}
        assert written == {f["path"]: f["size"] for f in share["files"]}, share["node"]
    assert sum(len(s["files"]) for s in shares) == 8

    def data_file(node):
        share = os.path.join(staging, f"node-{node:04d}", "release")
        return os.path.join(share, sorted(n for n in os.listdir(share) if n.endswith(".distcp"))[0])

    damaged = data_file(2)
    with open(damaged, "r+b") as f:  # same size, one byte flipped in the middle
        f.seek(os.path.getsize(damaged) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x40]))
    truncated = data_file(3)
    os.truncate(truncated, os.path.getsize(truncated) - 1)
    # A symbolic link of the planned size in place of node 1's file (to a file outside the staging area).
    linked = data_file(1)
    outside = str(tmp_path / "outside")
    os.rename(linked, outside)
    os.symlink(outside, linked)
    # Node 0 rerun with another layout: a share of a different plan.
    run([*cmd[:3], "--tp", "1", "--ep", "4", "--vision-layout", "hf", "--nodes", 4, "--node", 0, "--no-finalize"], check=True)

    p, report = finalize_json(out)
    assert p.returncode == 2
    assert report["rerun"] == [0, 1, 2, 3], report
    messages = {d["node"]: d["message"] for d in report["problems"]}
    assert "different conversion" in messages[0]
    assert "symbolic link" in messages[1]
    assert "damaged" in messages[2]
    assert "bytes where the plan has" in messages[3]
    assert not os.path.exists(out)
    before = tree(staging)
    assert run(["finalize", out, "--check"]).returncode == 2
    assert tree(staging) == before, "finalize --check changed the staging area"

    for k in (0, 1, 2, 3):
        run([*cmd, "--nodes", 4, "--node", k, "--no-finalize"], check=True)
    p, report = finalize_json(out)
    assert p.returncode == 0 and report["status"] == "finalized", p.stderr
    assert tree(out) == single["mg_tree"]


@pytest.mark.parametrize("env,flags,message", [
    ({"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4", "RANK": "2", "WORLD_SIZE": "4"}, [],
     "two different nodes"),
    ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"}, [], "--array=0-3"),
    ({"RANK": "x", "WORLD_SIZE": "4"}, [], "RANK=x is not an integer"),
    ({}, ["--node", "1"], "needs --nodes"),
    ({}, ["--nodes", "4", "--node", "4"], "between 0 and 3"),
])
def test_bad_or_conflicting_identities_are_usage_errors(tmp_path, env, flags, message):
    out = str(tmp_path / "mg")
    p = run(["import", HF_MOE, out, *IMPORT_ARGS, *flags], env=env)
    assert p.returncode == 64 and message in p.stderr, p.stderr
    assert leftovers(str(tmp_path)) == [] and not os.path.exists(out)


def test_flags_win_over_the_environment_and_one_node_of_an_array_is_rerun_with_nodes(tmp_path):
    out = str(tmp_path / "mg")
    # --nodes 1: not split, whatever the variables say.
    p = run(["import", HF_MOE, out, *IMPORT_ARGS, "--nodes", "1"], env={"RANK": "3", "WORLD_SIZE": "4"}, check=True)
    assert p.stdout.startswith("imported ") and os.path.isdir(out)

    out2 = str(tmp_path / "mg2")
    cmd = ["import", HF_MOE, out2, *IMPORT_ARGS, "--no-finalize"]
    # The array's task 2 (of --array=0-3); the tasks of a batch array also carry SLURM_PROCID=0.
    p = run(cmd, env={"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_PROCID": "0"}, check=True)
    assert p.stdout.startswith("node 2 of 4 (from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)"), p.stdout
    p, report = finalize_json(out2)
    assert p.returncode == 2 and report["rerun"] == [0, 1, 3], report
    # The hint reruns a node anywhere: the recorded command with --nodes 4 --node K.
    assert "--nodes 4 --node 0" in p.stderr and "sbatch --array=0,1,3" in p.stderr, p.stderr

    # A rerun of nodes 1 and 3 as --array=1,3 has SLURM_ARRAY_TASK_COUNT=2: without --nodes that is refused...
    rerun = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "1"}
    p = run(cmd, env=rerun)
    assert p.returncode == 64 and "pass --nodes N" in p.stderr, p.stderr
    # ... and with --nodes 4 the array id is the node.
    p = run([*cmd, "--nodes", "4"], env=rerun, check=True)
    assert p.stdout.startswith("node 3 of 4 (from --nodes/SLURM_ARRAY_TASK_ID)"), p.stdout
    # --array=0 says one node: a whole run into an output with a staging area is refused, nothing written.
    before = tree(out2 + ".staging")
    p = run(cmd, env={"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "1"})
    assert p.returncode == 2 and "staging area of a split conversion" in p.stderr, p.stderr
    assert tree(out2 + ".staging") == before and not os.path.exists(out2)
    for k in (0, 1):
        run([*cmd, "--nodes", "4"], env={"SLURM_ARRAY_TASK_ID": str(k), "SLURM_ARRAY_TASK_COUNT": "2"}, check=True)
    p, report = finalize_json(out2)
    assert p.returncode == 0 and report["status"] == "finalized", p.stderr
    assert tree(out2) == tree(out), "the split output differs from the whole run above"


def test_finalize_without_staging_area_is_an_error(tmp_path):
    p = run(["finalize", str(tmp_path / "nothing")])
    assert p.returncode == 2 and "no staging area" in p.stderr and "hint:" in p.stderr
