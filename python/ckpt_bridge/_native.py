"""Loads libCheckpointBridgeC.so and declares its C ABI (Sources/CheckpointBridgeC/include/ckpt_bridge.h).

The library is looked for in $CKPT_BRIDGE_LIBRARY, then beside this file (the wheel bundles it in
``_native/`` with the Swift runtime it needs), then in a source checkout's .build/release.
"""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Callable, Optional

from .errors import from_json

ABI_VERSION = 1
HERE = os.path.dirname(os.path.abspath(__file__))
NATIVE = os.path.join(HERE, "_native")
LIBRARY_NAME = "libCheckpointBridgeC.so"

PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_char_p, ctypes.c_void_p)


def _candidates():
    env = os.environ.get("CKPT_BRIDGE_LIBRARY")
    if env:
        yield env
    yield os.path.join(NATIVE, LIBRARY_NAME)
    yield os.path.join(HERE, "..", "..", ".build", "release", LIBRARY_NAME)


def _load() -> ctypes.CDLL:
    tried = []
    for path in _candidates():
        if os.path.isfile(path):
            lib = ctypes.CDLL(os.path.abspath(path))
            break
        tried.append(path)
    else:
        raise ImportError(f"ckpt_bridge: {LIBRARY_NAME} not found (looked in {', '.join(tried)}); "
                          "build it with `swift build -c release` or install the wheel (`make wheel`)")
    text = ctypes.c_void_p
    for name in ("inspect", "plan_import", "plan_export", "diff", "verify", "forward"):
        f = getattr(lib, f"ckpt_bridge_{name}")
        f.argtypes, f.restype = [ctypes.c_char_p], text
    for name in ("import", "export"):
        f = getattr(lib, f"ckpt_bridge_{name}")
        f.argtypes, f.restype = [ctypes.c_char_p, PROGRESS, ctypes.c_void_p], text
    lib.ckpt_bridge_abi_version.argtypes, lib.ckpt_bridge_abi_version.restype = [], ctypes.c_int32
    lib.ckpt_bridge_free.argtypes, lib.ckpt_bridge_free.restype = [ctypes.c_void_p], None
    lib.ckpt_bridge_rank_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.ckpt_bridge_rank_open.restype = text
    lib.ckpt_bridge_rank_read.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64]
    lib.ckpt_bridge_rank_read.restype = text
    lib.ckpt_bridge_rank_view.argtypes, lib.ckpt_bridge_rank_view.restype = [ctypes.c_void_p, ctypes.c_int64], ctypes.c_void_p
    lib.ckpt_bridge_rank_close.argtypes, lib.ckpt_bridge_rank_close.restype = [ctypes.c_void_p], None
    version = lib.ckpt_bridge_abi_version()
    if version != ABI_VERSION:
        raise ImportError(f"ckpt_bridge: {LIBRARY_NAME} has ABI version {version}, this package needs {ABI_VERSION}")
    return lib


lib = _load()


def take(envelope: Optional[int]) -> Any:
    """The result of an envelope the library returned (freed here); raises its error as a CheckpointError."""
    if not envelope:
        raise MemoryError("ckpt_bridge: the library returned no result")
    try:
        data = json.loads(ctypes.string_at(envelope).decode("utf-8"))
    finally:
        lib.ckpt_bridge_free(envelope)
    if not data.get("ok"):
        raise from_json(data["error"])
    return data.get("result")


def request(fields: dict) -> bytes:
    """A JSON request with the fields that are not None."""
    return json.dumps({k: v for k, v in fields.items() if v is not None}).encode("utf-8")


def call(name: str, fields: dict) -> Any:
    """Calls ckpt_bridge_NAME(request) and returns its result."""
    return take(getattr(lib, f"ckpt_bridge_{name}")(request(fields)))


def call_with_progress(name: str, fields: dict, observer: Optional[Callable[[int, int, str], bool]]) -> Any:
    """Calls ckpt_bridge_NAME(request, progress, NULL); `observer(done, total, tensor)` returns False to cancel.

    The library calls back on its writer threads (ctypes takes the GIL); an exception in the observer
    cancels the conversion and is raised here.
    """
    raised = []

    def trampoline(done, total, tensor, _user):
        try:
            return 0 if observer(done, total, (tensor or b"").decode("utf-8", "replace")) is not False else 1
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the library has cleaned up
            raised.append(e)
            return 1

    cb = PROGRESS(trampoline) if observer else PROGRESS()
    try:
        return take(getattr(lib, f"ckpt_bridge_{name}")(request(fields), cb, None))
    except Exception:
        if raised:
            raise raised[0]
        raise
