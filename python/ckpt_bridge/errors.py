"""The exceptions of ckpt_bridge: one base class, one subclass per engine module.

Every error the engine raises carries what it knows about where the problem is: the file, the tensor or
record key, the byte offset in the file, and a hint saying how to fix it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional


class CheckpointError(Exception):
    """An error from the converter: bad input, bad request, I/O failure.

    Attributes:
        module: the engine module that raised it ("Bridge", "SafeTensors", "TorchFormats", ...).
        code: the module's error code ("shape", "invalidOffset", "cancelled", ...).
        message: one sentence saying what is wrong.
        file: the file the problem was found in, or None.
        key: the tensor or record key concerned, or None.
        offset: the byte offset in ``file``, or None.
        hint: how to fix it, or None.
        causes: the chain of lower-level causes, outermost first.
    """

    def __init__(self, module: str, code: str, message: str, file: Optional[str] = None, key: Optional[str] = None,
                 offset: Optional[int] = None, hint: Optional[str] = None, causes: Optional[List[str]] = None,
                 description: Optional[str] = None):
        self.module, self.code, self.message = module, code, message
        self.file, self.key, self.offset, self.hint = file, key, offset, hint
        self.causes = list(causes or [])
        text = description or message
        super().__init__(text + (f"\nhint: {hint}" if hint else ""))


class BridgeError(CheckpointError):
    """Configs, mapping tables, key accounting, shapes, layouts, requests."""


class SafeTensorsError(CheckpointError):
    """A safetensors file that is malformed or truncated."""


class TorchFormatsError(CheckpointError):
    """torch.save zips, pickles, DCP metadata, Megatron rank files."""


class TensorCoreError(CheckpointError):
    """I/O, JSON, checksums and copies."""


class ModelSpecError(CheckpointError):
    """A config.json the converter cannot accept."""


class ForwardError(CheckpointError):
    """The reference forward pass (verify, forward)."""


class CancelledError(TensorCoreError):
    """The progress callback asked to stop; nothing was written."""


_BY_MODULE = {"Bridge": BridgeError, "SafeTensors": SafeTensorsError, "TorchFormats": TorchFormatsError,
              "TensorCore": TensorCoreError, "ModelSpec": ModelSpecError, "Forward": ForwardError}


def from_json(error: Dict[str, Any]) -> CheckpointError:
    """The exception for an error envelope of the C ABI."""
    module, code = error.get("module", ""), error.get("code", "")
    cls = CancelledError if (module, code) == ("TensorCore", "cancelled") else _BY_MODULE.get(module, CheckpointError)
    return cls(module, code, error.get("message", ""), error.get("file"), error.get("key"), error.get("offset"),
               error.get("hint"), error.get("causes"), error.get("description"))
