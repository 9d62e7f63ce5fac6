"""Shared pieces of the benchmarks: statistics, process memory, machine facts, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def raise_fd_limit() -> int:
    """Raise this process's soft open-files limit to the hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- statistics


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in 0..1), like numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def distribution(values: Sequence[float]) -> dict[str, float] | None:
    """count, p50, p95, p99, max, mean of one sample."""
    if not values:
        return None
    return {
        "count": len(values),
        "p50": quantile(values, 0.50),
        "p95": quantile(values, 0.95),
        "p99": quantile(values, 0.99),
        "max": float(max(values)),
        "mean": float(statistics.fmean(values)),
    }


def spread(values: Iterable[float | None]) -> dict[str, float] | None:
    """Median, min and max of a figure measured several times (one value per repetition)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {
        "median": float(statistics.median(present)),
        "min": min(present),
        "max": max(present),
        "n": len(present),
    }


def fmt_spread(s: dict[str, float] | None, digits: int = 0, unit: str = "") -> str:
    if not s:
        return "n/a"
    f = f"{{:.{digits}f}}"
    if s["n"] == 1:
        return f"{f.format(s['median'])}{unit}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}-{f.format(s['max'])}, n={s['n']})"


# ---------------------------------------------------------------------------- processes


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (``/proc/<pid>/statm``); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of children too), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for child in children.get(current, []):
            found.append(child)
            stack.append(child)
    return found


def tree_rss(pid: int) -> dict[str, int]:
    """RSS of a process and of all its descendants (the sum double-counts shared pages)."""
    kids = descendants(pid)
    own = rss_bytes(pid)
    return {"main": own, "children": sum(rss_bytes(k) for k in kids), "processes": 1 + len(kids)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[-1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_by_component(pid: int) -> dict[str, float]:
    """CPU seconds so far of a stack process (``stack``) and of its Lambda workers, summed per
    function (``worker:<dir>``, from the worker's command line); other children as ``other``."""
    found = {"stack": cpu_seconds(pid)}
    for kid in descendants(pid):
        try:
            with open(f"/proc/{kid}/cmdline", "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        marker = "/functions/"
        if marker in cmd:
            name = "worker:" + cmd.split(marker, 1)[1].split('"', 1)[0].split("/", 1)[0]
        else:
            name = "other"
        found[name] = found.get(name, 0.0) + cpu_seconds(kid)
    return found


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used between two snapshots (a worker that appeared counts from zero)."""
    return {k: round(v - before.get(k, 0.0), 2) for k, v in sorted(after.items())}


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


# ---------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    mem_total = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def load_results() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if RESULTS_DIR.is_dir():
        for path in sorted(RESULTS_DIR.glob("*.json")):
            try:
                found[path.stem] = json.loads(path.read_text())
            except ValueError:
                continue
    return found
