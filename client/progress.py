"""A one-line progress bar for uploads and downloads, on an injectable stream."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["ProgressBar", "human_size"]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class ProgressBar:
    """``label [#####.....]  45%  2.3 MB / 5.0 MB``, redrawn in place at most 10 times a second.

    On a stream that is not a terminal only the finished line is written, so logs stay clean.
    """

    def __init__(self, label: str, stream: TextIO, *, width: int = 24, tty: bool | None = None):
        self.label = label
        self.stream = stream
        self.width = width
        self.tty = stream.isatty() if tty is None else tty
        self._last = 0.0
        self._done = False

    def line(self, sent: int, total: int) -> str:
        fraction = min(1.0, sent / total) if total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return (
            f"{self.label} [{bar}] {fraction * 100:3.0f}%  {human_size(sent)} / {human_size(total)}"
        )

    def __call__(self, sent: int, total: int) -> None:
        finished = sent >= total
        now = time.monotonic()
        if self._done or (not finished and (not self.tty or now - self._last < 0.1)):
            return
        self._last = now
        end = "\n" if finished else ""
        prefix = "\r" if self.tty else ""
        self.stream.write(f"{prefix}{self.line(sent, total)}{end}")
        self.stream.flush()
        self._done = finished
