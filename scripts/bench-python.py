#!/usr/bin/env python3
"""Python API against the CLI on one machine in one run (not part of the tests):

- import of an HF checkpoint at TP2·EP4 through `ckpt_bridge.import_hf` and through the CLI, alternating,
  each followed by `sync`, median of N runs;
- `rank_state_dict` of one rank (tp 1, ep 3) of TP2·EP4: bytes per second and peak RSS, as views over the
  mapped file and as copies, each in a fresh process.

    PYTHONPATH=python CKPT_BRIDGE_LIBRARY=.build/release/libCheckpointBridgeC.so \
        scripts/bench-python.py HF_DIR [--cli .build/release/ckpt-bridge] [--runs 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

STREAM = r"""
import json, resource, sys, time
import ckpt_bridge as cb
hf, copy = sys.argv[1], sys.argv[2] == "copy"
t0 = time.monotonic(); n = 0; total = 0; check = 0
for key, a in cb.rank_state_dict(hf, layout={"tp": 2, "ep": 4}, rank=(1, 0, 3), copy=copy):
    n += 1; total += a.nbytes
    check ^= int(a.reshape(-1)[::4096].sum()) if a.size else 0   # touch the pages, as a load would
    del a
secs = time.monotonic() - t0
print(json.dumps({"tensors": n, "bytes": total, "seconds": secs, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def timed(fn):
    t0 = time.monotonic()
    fn()
    subprocess.run(["sync"], check=True)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hf")
    ap.add_argument("--cli", default=os.path.join(".build", "release", "ckpt-bridge"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import ckpt_bridge as cb
    work = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(args.hf)))
    py, cli = [], []
    try:
        for i in range(args.runs):
            out = os.path.join(work, "cli")
            cli.append(timed(lambda: subprocess.run([args.cli, "import", args.hf, out, "--tp", "2", "--ep", "4", "--quiet"],
                                                    check=True, capture_output=True)))
            shutil.rmtree(out)
            out = os.path.join(work, "py")
            py.append(timed(lambda: cb.import_hf(args.hf, out, tp=2, ep=4, progress=False)))
            shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = cb.inspect(args.hf)["total_bytes"]
    print(f"import TP2·EP4 of {size / 1e9:.2f} GB: CLI {statistics.median(cli):.2f} s (runs {', '.join(f'{t:.2f}' for t in cli)}), "
          f"Python {statistics.median(py):.2f} s (runs {', '.join(f'{t:.2f}' for t in py)}), "
          f"Python/CLI {statistics.median(py) / statistics.median(cli):.3f}")
    for mode in ("view", "copy"):
        p = subprocess.run([sys.executable, "-c", STREAM, args.hf, mode], check=True, capture_output=True, text=True)
        r = json.loads(p.stdout)
        print(f"rank_state_dict TP2·EP4 rank (tp 1, ep 3), {mode}: {r['tensors']} tensors, {r['bytes'] / 1e9:.3f} GB in {r['seconds']:.2f} s "
              f"({r['bytes'] / 1e9 / r['seconds']:.2f} GB/s), peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
