#!/usr/bin/env python
"""The torch baseline for `make bench`: load an HF safetensors checkpoint with torch and write the same
tensors as a torch.distributed.checkpoint folder (what any torch-based converter must do at least: read
every tensor into torch, then DCP-save). No Megatron transforms, so it is a lower bound for the peers.

    python scripts/bench_torch_peer.py HF_DIR OUT_DIR
"""
import glob
import os
import sys
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402
import torch.distributed.checkpoint as dcp  # noqa: E402
from safetensors import safe_open  # noqa: E402


def main():
    src, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(os.cpu_count() or 1)
    state = {}
    for f in sorted(glob.glob(os.path.join(src, "*.safetensors"))):
        with safe_open(f, framework="pt") as s:
            for k in s.keys():
                state[k] = s.get_tensor(k)
    os.makedirs(out, exist_ok=True)
    dcp.save(state, storage_writer=dcp.FileSystemWriter(out), no_dist=True)


if __name__ == "__main__":
    main()
