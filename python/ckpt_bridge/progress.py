"""Progress for long calls: a bar on stderr when it is a terminal, silence otherwise, or the caller's callable."""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Optional, Union

Observer = Callable[[int, int, str], Optional[bool]]
ProgressArg = Union[bool, Observer, None]


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


class TerminalBar:
    """The CLI's bar (bytes, rate, ETA), redrawn at most five times a second."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self.started = time.monotonic()
        self.last = 0.0
        self.lock = threading.Lock()
        self.drawn = False

    def __call__(self, done: int, total: int, tensor: str) -> bool:
        now = time.monotonic()
        with self.lock:
            if now - self.last < 0.2 and done < total:
                return True
            self.last = now
            elapsed = max(1e-3, now - self.started)
            rate = done / elapsed
            eta = (total - done) / rate if rate > 0 else 0
            filled = min(self.width, self.width * done // max(1, total))
            bar = "█" * filled + "·" * (self.width - filled)
            self.stream.write(f"\r{bar} {_size(done)}/{_size(total)}  {_size(rate)}/s  ETA {eta:.0f}s  ")
            self.stream.flush()
            self.drawn = True
        return True

    def close(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def observer(progress: ProgressArg):
    """(observer, closer) for `progress`: True draws a bar if stderr is a terminal, a callable is used as is
    (it returns False to cancel), False or None is silent."""
    if callable(progress):
        return progress, lambda: None
    if progress and sys.stderr.isatty():
        bar = TerminalBar()
        return bar, bar.close
    return None, lambda: None
