"""Where the time goes: py-spy samples a process tree; the summary counts samples per process and
per innermost project / library frame. py-spy is not a dependency: ``pip install py-spy``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class ProfileRecorder:
    """``py-spy record --subprocesses --nonblocking --format raw`` for the duration of a block."""

    def __init__(self, pid: int, out_base: Path, rate: int = 100) -> None:
        self.pid = pid
        self.path = out_base.with_suffix(".txt")
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None
        self.summary: dict[str, Any] = {}

    def __enter__(self) -> ProfileRecorder:
        exe = _py_spy()
        if exe is None:
            self.summary = {"error": "py-spy is not installed"}
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--subprocesses",
                "--nonblocking",
                "--threads",
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--output",
                str(self.path),
                "--duration",
                "600",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.path.exists():
            self.summary = summarize(self.path)


def summarize(path: Path, top: int = 8) -> dict[str, Any]:
    """Samples per process and thread, and for each the innermost call chains that take most.

    Processes are the stack (``python -m local``) and its workers (named by function); threads
    are named as Python names them (``MainThread`` is the stack's event loop: gateway,
    ``@connections``, pollers; ``process_request_thread`` threads are the embedded moto server).
    """
    groups: Counter[str] = Counter()
    chains: dict[str, Counter[str]] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        i = 1
        proc = "stack"
        if len(frames) > 1 and frames[1].startswith("process "):
            m = re.search(r"functions/(\w+)", frames[1])
            proc = f"worker:{m.group(1) if m else '?'}"
            i = 2
        thread = frames[i] if i < len(frames) else ""
        thread = re.sub(r"\(\d+\)", "", thread)
        thread = re.sub(r"\d+", "N", thread).replace("thread : ", "").strip()
        key = f"{proc} / {thread}"
        groups[key] += count
        inner = " <- ".join(_short(f) for f in reversed(frames[-3:]))
        chains.setdefault(key, Counter())[inner] += count
    return {
        "samples": total,
        "groups": {
            key: {"samples": n, "top": dict(chains[key].most_common(top))}
            for key, n in groups.most_common(12)
        },
    }


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()[:100]
    file = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m.group('func')} ({file})"
