"""The `ckpt-bridge` console entry point: runs the CLI binary bundled in the wheel with the same arguments."""
from __future__ import annotations

import os
import sys

from ._native import NATIVE


def main() -> None:
    binary = os.path.join(NATIVE, "ckpt-bridge")
    if not os.path.isfile(binary):
        sys.stderr.write(f"ckpt-bridge: the bundled CLI is missing ({binary}); reinstall the wheel\n")
        sys.exit(2)
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
