"""One helper shared by the Python test suites (Tests/Interop, Tests/Faults, Tests/Cluster): what a folder
holds, as {relative path: SHA-256}, so two outputs are compared file by file and byte by byte."""
import hashlib
import os


def tree(path):
    """Relative path -> sha256 of every file below `path` (None when absent)."""
    if not os.path.exists(path):
        return None
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = hashlib.sha256(fh.read()).hexdigest()
    return out
