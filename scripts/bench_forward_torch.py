#!/usr/bin/env python3
"""Forward-pass benchmark: `ckpt-bridge forward` against PyTorch CPU fp32 (transformers) on the same
checkpoint, the same input and the same thread count.

    bench_forward_torch.py inputs MODEL OUT.safetensors [--tokens 128] [--image PIXELS] [--seed 0]
        Writes the prompt both runtimes read: input_ids I64 [1, S] (random ordinary tokens), and with
        --image a random PIXELS x PIXELS picture run through the checkpoint's own image processor
        (pixel_values F32 [P, 1536], image_grid_thw I64 [1, 3]) with its image tokens in the prompt.
        The layout is ForwardInputs.save's.

    bench_forward_torch.py torch MODEL INPUTS --threads N [--out LOGITS] [--json RESULT] [--repeat 1]
        One PyTorch run: from_pretrained(dtype=float32), torch.set_num_threads(N), forward under
        inference_mode, timed (load and forward apart; --repeat > 1 adds warm forwards).

    bench_forward_torch.py bench --cli CKPT_BRIDGE MODEL INPUTS --threads N --outdir DIR [--runs 1] [--repeat 1]
        Runs `CKPT_BRIDGE forward MODEL --inputs INPUTS --out DIR/logits-ours.safetensors --threads N`
        (OPENBLAS_NUM_THREADS=N) and then the torch run above in its own process, each timed end to end
        (process start to exit, model load included); reads the forward-only time each one reports;
        checks that the two logits agree; prints the table and writes DIR/bench-forward.json.
        --runs R alternates R runs of each and shows each side's best (for a machine shared with other work).

Tokens/s is prompt tokens divided by time; ratio = ours / torch (>= 1.0: ckpt-bridge is at least as fast).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

SPECIAL_TOKENS_START = 151643   # Qwen's special tokens (<|endoftext|>, vision markers, ...) start here


def cmd_inputs(a) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    cfg = json.load(open(os.path.join(a.model, "config.json")))
    vocab = cfg["text_config"]["vocab_size"]
    g = torch.Generator().manual_seed(a.seed)
    text = torch.randint(0, min(vocab, SPECIAL_TOKENS_START), (a.tokens,), generator=g, dtype=torch.int64)
    tensors = {}
    if a.image:
        from transformers import AutoImageProcessor
        from PIL import Image

        rng = np.random.default_rng(a.seed)
        img = Image.fromarray(rng.integers(0, 256, (a.image, a.image, 3), dtype=np.uint8), "RGB")
        proc = AutoImageProcessor.from_pretrained(a.model)
        px = proc(images=[img], return_tensors="pt")
        grid = px["image_grid_thw"].to(torch.int64)
        merge = cfg["vision_config"].get("spatial_merge_size", 2)
        n_image = int(grid.prod(dim=-1).sum()) // (merge * merge)
        image = torch.tensor([cfg.get("vision_start_token_id", 151652)] + [cfg.get("image_token_id", 151655)] * n_image
                             + [cfg.get("vision_end_token_id", 151653)], dtype=torch.int64)
        half = a.tokens // 2
        ids = torch.cat([text[:half], image, text[half:]])
        tensors["pixel_values"] = px["pixel_values"].to(torch.float32).contiguous()
        tensors["image_grid_thw"] = grid.contiguous()
    else:
        ids = text
    tensors["input_ids"] = ids.reshape(1, -1).contiguous()
    save_file(tensors, a.out)
    desc = f"{ids.numel()} tokens" + (f" ({n_image} image tokens, {tuple(tensors['pixel_values'].shape)} patches)" if a.image else "")
    print(f"inputs: {desc} -> {a.out}")


def cmd_torch(a) -> None:
    t_start = time.perf_counter()
    import torch
    import transformers
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    cls = getattr(transformers, cfg["architectures"][0])
    t0 = time.perf_counter()
    model = cls.from_pretrained(a.model, dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - t0
    inputs = load_file(a.inputs)
    kwargs = {"input_ids": inputs["input_ids"]}
    if "pixel_values" in inputs:
        kwargs["pixel_values"] = inputs["pixel_values"]
        kwargs["image_grid_thw"] = inputs["image_grid_thw"]
        # transformers 5 wants the processor's token types (0 text, 1 image) for the multimodal rope.
        image_token = cfg.get("image_token_id", 151655)
        kwargs["mm_token_type_ids"] = (inputs["input_ids"] == image_token).to(torch.int64)
    times, cpu = [], []
    with torch.inference_mode():
        for _ in range(max(1, a.repeat)):
            t1, c1 = time.perf_counter(), time.process_time()
            out = model(**kwargs, use_cache=False)
            times.append(time.perf_counter() - t1)
            cpu.append(time.process_time() - c1)
    logits = out.logits.float().contiguous()
    if a.out:
        save_file({"logits": logits}, a.out)
    result = {"tokens": int(kwargs["input_ids"].shape[1]), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "transformers": transformers.__version__,
              "load_s": load_s, "forward_s": times[0], "forward_warm_s": min(times[1:]) if len(times) > 1 else None,
              "forward_cpu_s": cpu[0],
              "in_process_s": time.perf_counter() - t_start,
              "attn": getattr(model.config, "_attn_implementation", None)}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


def children_cpu() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout)
        raise SystemExit(f"bench: {' '.join(cmd[:2])} ... failed with status {p.returncode}")
    return wall, p.stdout


def cmd_bench(a) -> None:
    from safetensors.torch import load_file

    os.makedirs(a.outdir, exist_ok=True)
    ours_logits = os.path.join(a.outdir, "logits-ours.safetensors")
    torch_logits = os.path.join(a.outdir, "logits-torch.safetensors")
    torch_json = os.path.join(a.outdir, "torch.json")

    # ckpt-bridge forward: its own process; OpenBLAS threads pinned to N (OPENBLAS_CORETYPE / L2 size as set).
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
    probe = subprocess.run([a.cli, "forward", "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        raise SystemExit(f"bench: {a.cli} has no 'forward' command")

    def run_ours():
        c0 = children_cpu()
        wall, out = timed([a.cli, "forward", a.model, "--inputs", a.inputs, "--out", ours_logits,
                           "--threads", str(a.threads)], env)
        sys.stdout.write(out)
        m = re.search(r"in ([0-9.]+) s \(", out)
        return {"forward_s": float(m.group(1)) if m else None, "process_s": wall, "process_cpu_s": children_cpu() - c0}

    def run_torch():
        wall, _ = timed([sys.executable, os.path.abspath(__file__), "torch", a.model, a.inputs,
                         "--threads", str(a.threads), "--out", torch_logits, "--json", torch_json,
                         "--repeat", str(a.repeat)])
        t = json.load(open(torch_json))
        t["process_s"] = wall
        print(f"torch: {t['tokens']} tokens in {t['forward_s']:.3f} s forward, {t['load_s']:.2f} s load, {wall:.2f} s process")
        return t

    # Alternate the two, so that a busy spell of the machine does not land on one side only; with --runs > 1
    # the table shows each side's best run (the metric is one run of each: --runs 1).
    ours_runs, torch_runs = [], []
    for _ in range(max(1, a.runs)):
        ours_runs.append(run_ours())
        torch_runs.append(run_torch())

    def best(runs, key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        return min(vals) if vals else None

    ours_fwd, ours_wall = best(ours_runs, "forward_s"), best(ours_runs, "process_s")
    t = torch_runs[-1]
    torch_fwd, torch_wall = best(torch_runs, "forward_s"), best(torch_runs, "process_s")
    torch_warm = best(torch_runs, "forward_warm_s")

    # Same model, same input: the logits must agree (fp32 both sides; summation order differs).
    lo = load_file(ours_logits)["logits"]
    lo = lo.reshape(-1, lo.shape[-1])
    lt = load_file(torch_logits)["logits"].reshape(lo.shape)
    max_abs = float((lo - lt).abs().max())
    scale = float(lt.abs().max())
    argmax_agree = float((lo.argmax(-1) == lt.argmax(-1)).float().mean())

    tokens = t["tokens"]

    def tps(s):
        return tokens / s if s else None

    rows = [("forward only", ours_fwd, torch_fwd), ("end to end (process, with load)", ours_wall, torch_wall)]
    print()
    runs = f"best of {len(ours_runs)} alternating runs" if len(ours_runs) > 1 else "one run each"
    print(f"model {os.path.basename(os.path.normpath(a.model))}, {tokens} tokens, {a.threads} threads, {runs}; "
          f"torch {t['torch']} / transformers {t['transformers']} (attn {t['attn']}), fp32")
    print(f"{'':34} {'ours s':>8} {'ours tok/s':>11} {'torch s':>8} {'torch tok/s':>12} {'ratio':>7}")
    for name, o, th in rows:
        if o is None:
            print(f"{name:34} {'-':>8} {'-':>11} {th:8.2f} {tps(th):12.1f} {'-':>7}")
            continue
        print(f"{name:34} {o:8.2f} {tps(o):11.1f} {th:8.2f} {tps(th):12.1f} {th / o:6.2f}x")
    if torch_warm:
        ratio = f"{torch_warm / ours_fwd:6.2f}x" if ours_fwd else ""
        print(f"{'forward, torch warm (2nd+ call)':34} {ours_fwd or 0:8.2f} {tps(ours_fwd) or 0:11.1f} {torch_warm:8.2f} "
              f"{tps(torch_warm):12.1f} {ratio}")
    ours_cpu, torch_cpu = best(ours_runs, "process_cpu_s"), best(torch_runs, "forward_cpu_s")
    if torch_cpu:
        print(f"CPU seconds (all threads): ours {ours_cpu:.2f} for the whole process, torch {torch_cpu:.2f} for the "
              f"forward alone (less sensitive than wall time to other work on the machine)")
    if len(ours_runs) > 1:
        print("all runs (forward s): ours " + ", ".join(f"{r['forward_s']:.2f}" for r in ours_runs if r["forward_s"])
              + "; torch " + ", ".join(f"{r['forward_s']:.2f}" for r in torch_runs))
    print(f"torch model load {t['load_s']:.2f} s; logits max |ours - torch| = {max_abs:.3g} "
          f"(max |logit| {scale:.3g}), argmax agreement {argmax_agree * 100:.1f}%")
    summary = {"model": a.model, "tokens": tokens, "threads": a.threads, "runs": len(ours_runs),
               "ours": {"forward_s": ours_fwd, "process_s": ours_wall, "process_cpu_s": ours_cpu, "all": ours_runs},
               "torch": {"forward_s": torch_fwd, "process_s": torch_wall, "forward_warm_s": torch_warm, "forward_cpu_s": torch_cpu,
                         "load_s": t["load_s"], "version": t["torch"], "transformers": t["transformers"],
                         "all": [{k: r[k] for k in ("forward_s", "forward_warm_s", "forward_cpu_s", "load_s", "process_s")}
                                 for r in torch_runs]},
               "ratio_forward": (torch_fwd / ours_fwd) if ours_fwd else None,
               "ratio_process": torch_wall / ours_wall,
               "logits_max_abs_diff": max_abs, "argmax_agreement": argmax_agree}
    with open(os.path.join(a.outdir, "bench-forward.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if argmax_agree < 0.99 or max_abs > 1e-2 * max(1.0, scale):
        raise SystemExit("bench: the two runtimes disagree on the logits; the timing compares different work")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("inputs")
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--image", type=int, default=0, help="side in pixels of a random test image (0: text only)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("torch")
    p.add_argument("model")
    p.add_argument("inputs")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--out")
    p.add_argument("--json")
    p.add_argument("--repeat", type=int, default=1)
    p = sub.add_parser("bench")
    p.add_argument("--cli", required=True)
    p.add_argument("model")
    p.add_argument("inputs")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--repeat", type=int, default=1, help="torch forwards per process (>1 also reports a warm one)")
    p.add_argument("--runs", type=int, default=1, help="alternating runs of each side; the table shows the best")
    a = ap.parse_args()
    {"inputs": cmd_inputs, "torch": cmd_torch, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
