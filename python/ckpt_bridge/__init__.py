"""ckpt_bridge: Qwen3-VL checkpoints between Hugging Face safetensors and Megatron-Core, from Python.

A pure-Python package over the C ABI of CheckpointBridge (libCheckpointBridgeC.so, bundled in the wheel):
no torch and no numpy needed to convert; numpy only where arrays are returned, torch only on request.

    import ckpt_bridge as cb
    cb.import_hf("Qwen3-VL-30B-A3B-Instruct", "megatron", tp=2, ep=4)
    cb.export_hf("megatron", "hf-out")
    assert cb.diff("Qwen3-VL-30B-A3B-Instruct", "hf-out").equal
    for key, w in cb.rank_state_dict("Qwen3-VL-30B-A3B-Instruct", layout={"tp": 2, "ep": 4}, rank=(1, 0, 3), as_torch=True):
        ...

See Docs/python.md.
"""
from .api import Diff, Plan, Report, Result, diff, export_hf, forward, import_hf, inspect, plan_export, plan_import, verify
from .errors import (BridgeError, CancelledError, CheckpointError, ForwardError, ModelSpecError, SafeTensorsError,
                     TensorCoreError, TorchFormatsError)
from .rank import Layout, Rank, rank_state_dict, rank_tensors

__version__ = "0.1.0"

__all__ = ["inspect", "plan_import", "plan_export", "import_hf", "export_hf", "diff", "verify", "forward",
           "rank_state_dict", "rank_tensors", "Layout", "Rank", "Plan", "Result", "Diff", "Report",
           "CheckpointError", "BridgeError", "SafeTensorsError", "TorchFormatsError", "TensorCoreError",
           "ModelSpecError", "ForwardError", "CancelledError"]
