"""The Python package ckpt_bridge (python/, over the C ABI of libCheckpointBridgeC.so) against the CLI and
megatron-core: conversions through Python are byte for byte the CLI's; rank_state_dict gives each rank exactly
the tensors megatron-core loads from our converted checkpoint, and the same logits; errors carry file and
offset; a cancelled conversion leaves nothing; two conversions run in two threads; the C program links the
header. The wheel itself is tested in test_wheel.py."""
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import CLI, ROOT, cli, fixture, iteration_dir, tree
from test_megatron_core import HERE, free_port

LIBRARY = os.environ.get("CKPT_BRIDGE_LIBRARY", os.path.join(os.path.dirname(CLI), "libCheckpointBridgeC.so"))
os.environ["CKPT_BRIDGE_LIBRARY"] = LIBRARY
sys.path.insert(0, os.path.join(ROOT, "python"))
import ckpt_bridge as cb  # noqa: E402

DENSE, MOE = "qwen3_vl_dense_tiny", "qwen3_vl_moe_tiny"


CONVERSIONS = [
    (DENSE, dict(tp=2), ["--tp", "2"]),
    (MOE, dict(tp=2, ep=2, vision_layout="hf"), ["--tp", "2", "--ep", "2", "--vision-layout", "hf"]),
    (MOE, dict(ep=2, format="legacy", vision_layout="hf"), ["--ep", "2", "--format", "legacy", "--vision-layout", "hf"]),
]


@pytest.mark.parametrize("model,kwargs,flags", CONVERSIONS, ids=["dense-tp2", "moe-tp2-ep2", "moe-ep2-legacy"])
def test_import_and_export_equal_the_cli_byte_for_byte(out, model, kwargs, flags):
    hf = fixture(f"{model}/hf")
    cli("import", hf, out / "cli", *flags)
    r = cb.import_hf(hf, out / "py", progress=False, **kwargs)
    assert r.out_dir == str(out / "py") and r.tensors > 0 and r.bytes > 0
    a, b = tree(out / "cli"), tree(out / "py")
    assert a and a == b
    expert_layout = "v5" if model == MOE else "hub"
    cli("export", out / "cli", out / "cli_hf", "--expert-layout", expert_layout)
    e = cb.export_hf(out / "py", out / "py_hf", expert_layout=expert_layout, progress=False)
    assert tree(out / "cli_hf") == tree(out / "py_hf")
    assert cb.diff(hf, out / "py_hf").equal, "the round trip is bit-exact"
    assert e.tensors == cb.inspect(hf)["total_tensors"]


def test_reports_equal_the_cli_json(out):
    hf = fixture(f"{MOE}/hf")
    assert cb.inspect(hf) == json.loads(cli("inspect", hf, "--json").stdout)
    plan = cb.plan_import(hf, tp=2, ep=2, vision_layout="hf")
    theirs = json.loads(cli("plan", "import", hf, out / "x", "--tp", "2", "--ep", "2", "--vision-layout", "hf", "--json").stdout)
    assert plan.tensors == theirs["tensors_detail"] and plan.summary == {k: v for k, v in theirs.items() if k != "tensors_detail"}
    assert not os.path.exists(out / "x")
    d = cb.diff(hf, fixture(f"{DENSE}/hf"))
    assert not d.equal and d.missing and d.extra


def test_truncated_safetensors_raises_checkpoint_error_with_file_and_offset(out):
    bad = out / "hf"
    shutil.copytree(fixture(f"{DENSE}/hf"), bad)
    st = bad / "model.safetensors"
    size = os.path.getsize(st)
    with open(st, "r+b") as f:
        f.truncate(size - 1000)
    with pytest.raises(cb.CheckpointError) as e:
        cb.import_hf(bad, out / "meg", tp=2, progress=False)
    err = e.value
    assert isinstance(err, cb.SafeTensorsError)
    assert err.file and err.file.endswith("model.safetensors") and isinstance(err.offset, int) and err.hint
    # The CLI reports the same file and offset.
    p = cli("import", bad, out / "meg", "--tp", "2", check=False)
    assert p.returncode == 2 and f"at byte {err.offset}" in p.stderr and "model.safetensors" in p.stderr
    assert not os.path.exists(out / "meg")


def test_bad_request_names_the_field():
    with pytest.raises(cb.BridgeError) as e:
        cb.plan_import(fixture(f"{DENSE}/hf"), tp=0)
    assert e.value.key == "tp"


@pytest.mark.parametrize("when", ["before", "during"])
def test_cancellation_leaves_no_output_folder(out, when):
    calls = []

    def stop(done, total, tensor):
        calls.append((done, total, tensor))
        return when == "during" and done == 0  # "during": go on past the start, stop at the first slab

    with pytest.raises(cb.CancelledError):
        cb.import_hf(fixture(f"{MOE}/hf"), out / "meg", tp=2, ep=2, vision_layout="hf", progress=stop, jobs=1)
    assert calls and calls[0][0] == 0 and calls[0][1] > 0
    if when == "during":
        assert any(d > 0 for d, _, _ in calls)
    assert os.listdir(out) == [], os.listdir(out)


def test_exception_in_progress_callback_cancels_and_is_raised(out):
    def boom(done, total, tensor):
        raise KeyError("from the callback")

    with pytest.raises(KeyError):
        cb.import_hf(fixture(f"{DENSE}/hf"), out / "meg", progress=boom)
    assert os.listdir(out) == []


def test_two_conversions_in_two_threads(out):
    hf_dense, hf_moe = fixture(f"{DENSE}/hf"), fixture(f"{MOE}/hf")
    cli("import", hf_dense, out / "cli_dense", "--tp", "2")
    cli("import", hf_moe, out / "cli_moe", "--ep", "2", "--vision-layout", "hf")
    errors = []

    def run(hf, dst, **kw):
        try:
            for i in range(3):
                cb.import_hf(hf, out / f"{dst}{i}", progress=lambda *a: True, **kw)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(hf_dense, "dense"), kwargs=dict(tp=2)),
               threading.Thread(target=run, args=(hf_moe, "moe"), kwargs=dict(ep=2, vision_layout="hf"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(3):
        assert tree(out / f"dense{i}") == tree(out / "cli_dense")
        assert tree(out / f"moe{i}") == tree(out / "cli_moe")


def test_c_program_links_the_header_and_converts_a_fixture(out):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler")
    exe = out / "convert_fixture"
    libdir = os.path.dirname(LIBRARY)
    subprocess.run([cc, "-Wall", "-Werror", "-I", os.path.join(ROOT, "Sources", "CheckpointBridgeC", "include"),
                    os.path.join(HERE, "c", "convert_fixture.c"), "-L", libdir, "-lCheckpointBridgeC",
                    f"-Wl,-rpath,{libdir}", "-o", str(exe)], check=True)
    work = out / "work"
    work.mkdir()
    p = subprocess.run([str(exe), fixture(f"{DENSE}/hf"), str(work)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "C ABI: all steps passed" in p.stdout
    assert sorted(os.listdir(work)) == ["hf", "megatron"]
    cli("diff", fixture(f"{DENSE}/hf"), work / "hf")


RANK_CASES = [(DENSE, 2, 1, "megatron"), (MOE, 1, 2, "hf"), (MOE, 2, 1, "hf")]


@pytest.mark.parametrize("model,tp,ep,vision", RANK_CASES, ids=["dense-tp2", "moe-ep2", "moe-tp2"])
def test_rank_state_dict_is_what_megatron_core_loads(out, model, tp, ep, vision):
    hf = fixture(f"{model}/hf")
    meg = out / "megatron"
    cli("import", hf, meg, "--tp", str(tp), "--ep", str(ep), "--vision-layout", vision)
    d = iteration_dir(str(meg))
    results = out / "results"
    results.mkdir()
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python"), HERE]))
    p = subprocess.run([torchrun, "--nproc-per-node", str(tp * ep), "--master-port", env["MASTER_PORT"],
                        os.path.join(HERE, "mcore_rank_state.py"), hf, d, os.path.join(d, "hf_config", "config.json"),
                        str(results), str(tp), str(ep), vision], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    ranks = set()
    for r in range(tp * ep):
        res = json.load(open(results / f"rank{r}.json"))
        ranks.add(tuple(res["rank"]))
        assert res["theirs"] and res["ours"] == res["theirs"], sorted(set(res["ours"]) ^ set(res["theirs"]))
        assert res["differing"] == []
        assert res["missing"] == [] and res["unexpected"] == []
        assert res["differed_before_load"] and res["logits_equal"], res["max_abs"]
    assert len(ranks) == tp * ep


def test_rank_state_dict_streams_read_only_numpy_views():
    hf = fixture(f"{DENSE}/hf")
    listing = cb.rank_tensors(hf, layout=cb.Layout(tp=2), rank=cb.Rank(tp=1))
    got = list(cb.rank_state_dict(hf, layout={"tp": 2}, rank=(1, 0, 0)))
    assert [k for k, _ in got] == [t["name"] for t in listing["tensors"]]
    views = [a for _, a in got if a.base is not None]
    assert views and all(not a.flags.writeable for a in views)
    copies = dict(cb.rank_state_dict(hf, layout={"tp": 2}, rank=(1, 0, 0), copy=True))
    import numpy as np
    for k, a in got:
        assert np.array_equal(a, copies[k]) and a.shape == tuple(next(t["shape"] for t in listing["tensors"] if t["name"] == k))
    with pytest.raises(cb.BridgeError):
        next(cb.rank_state_dict(hf, layout={"tp": 2}, rank=(2, 0, 0)))


def test_verify_and_forward_agree_with_the_cli(out):
    hf = fixture(f"{DENSE}/hf")
    cli("import", hf, out / "meg", "--tp", "2")
    report = cb.verify(hf, out / "meg")
    theirs = json.loads(cli("verify", hf, out / "meg", "--json").stdout)
    assert report.passed and theirs["pass"]
    assert [(i["input"], i["tokens"], i["max_abs"], i["argmax_agreement"]) for i in report.inputs] == \
           [(i["input"], i["tokens"], i["max_abs"], i["argmax_agreement"]) for i in theirs["inputs"]]
    r = cb.forward(out / "meg", out / "logits.safetensors")
    cli("forward", out / "meg", "--out", out / "cli_logits.safetensors")
    assert r["logits_shape"] and open(out / "logits.safetensors", "rb").read() == open(out / "cli_logits.safetensors", "rb").read()


def test_progress_bar_only_on_a_terminal(out):
    import pty
    script = ("import sys, ckpt_bridge as cb; "
              f"cb.import_hf({fixture(DENSE + '/hf')!r}, sys.argv[1], tp=2)")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    master, slave = pty.openpty()
    p = subprocess.run([sys.executable, "-c", script, str(out / "tty")], stderr=slave, stdout=subprocess.PIPE, env=env, timeout=120)
    os.close(slave)
    drawn = os.read(master, 65536).decode("utf-8", "replace")
    os.close(master)
    assert p.returncode == 0 and "█" in drawn and "MB" in drawn, drawn
    p = subprocess.run([sys.executable, "-c", script, str(out / "pipe")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and p.stderr == "" and p.stdout == ""
