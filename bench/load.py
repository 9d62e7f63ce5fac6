"""End-to-end latency under sustained load: the project's own ``chat loadtest`` against the stack.

Each repetition starts a fresh ``python -m local`` and runs ``chat loadtest`` (``client/loadtest
.py``) in its own process: N connections over R rooms, S senders at a total rate for D seconds,
every delivery timed from the send (one clock), lost and duplicated deliveries counted against
acks after the client's de-duplication. The stack's CPU time over the run is read from ``/proc``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, ROOT, cpu_seconds, descendants, spread
from bench.stack import StackProcess


def _tree_cpu(pid: int) -> tuple[float, float]:
    return cpu_seconds(pid), sum(cpu_seconds(k) for k in descendants(pid))


def run_load(
    *,
    connections: int,
    rooms: int,
    senders: int,
    rate: float,
    duration: float,
    repeats: int = 3,
    ramp: float = 200.0,
    drain: float = 60.0,
    log=print,  # noqa: ANN001
) -> dict[str, Any]:
    name = f"load-{connections}c-{rooms}r-{senders}s-{rate:g}-ramp{ramp:g}"
    config = {
        "connections": connections,
        "rooms": rooms,
        "senders": senders,
        "rate": rate,
        "duration": duration,
        "ramp": ramp,
        "drain": drain,
        "members_per_room": connections / rooms,
        "deliveries_per_second_offered": rate * connections / rooms,
    }
    runs: list[dict[str, Any]] = []
    chat = str(Path(sys.executable).parent / "chat")
    for rep in range(repeats):
        stack = StackProcess(log_path=RESULTS_DIR / "logs" / f"{name}-{rep}.log").start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                report = Path(tmp) / "load.json"
                cmd = [
                    chat,
                    "loadtest",
                    "--url",
                    stack.ws_url,
                    "--user",
                    f"load{rep}",
                    "-n",
                    str(connections),
                    "-r",
                    str(rooms),
                    "-s",
                    str(senders),
                    "--rate",
                    str(rate),
                    "-d",
                    str(duration),
                    "--ramp",
                    str(ramp),
                    "--drain",
                    str(drain),
                    "--json",
                    str(report),
                    "--max-loss",
                    str(10**9),
                ]
                cpu0 = _tree_cpu(stack.pid)
                begun = time.monotonic()
                done = subprocess.run(
                    cmd,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=duration + drain + connections / ramp + 300,
                )
                took = time.monotonic() - begun
                cpu1 = _tree_cpu(stack.pid)
                if not report.exists():
                    raise RuntimeError(
                        f"chat loadtest wrote no report (exit {done.returncode}): "
                        f"{done.stderr.strip()[-500:]}"
                    )
                summary = json.loads(report.read_text())
        finally:
            stack.stop()
        summary.pop("timeline", None)
        summary["exit_status"] = done.returncode
        summary["wall_seconds"] = round(took, 1)
        summary["stack_cpu_seconds"] = {
            "main": round(cpu1[0] - cpu0[0], 1),
            "workers": round(cpu1[1] - cpu0[1], 1),
        }
        runs.append(summary)
        lat = summary.get("latency_ms") or {}
        msgs = summary["messages"]
        log(
            f"  #{rep}: p50 {lat.get('p50', float('nan')):.0f} ms, p99 "
            f"{lat.get('p99', float('nan')):.0f} ms, acked {msgs['acked']}/{msgs['sent']}, "
            f"lost {msgs['lost']}, dup {msgs['duplicates']}, errors {summary['errors']}"
        )

    def pick(path: tuple[str, ...]) -> list[float | None]:
        values: list[float | None] = []
        for r in runs:
            v: Any = r
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            values.append(v)
        return values

    return {
        "name": name,
        "config": config,
        "runs": runs,
        "latency_p50_ms": spread(pick(("latency_ms", "p50"))),
        "latency_p95_ms": spread(pick(("latency_ms", "p95"))),
        "latency_p99_ms": spread(pick(("latency_ms", "p99"))),
        "latency_max_ms": spread(pick(("latency_ms", "max"))),
        "sent_per_s": spread(pick(("throughput", "sent_per_s"))),
        "delivered_per_s": spread(pick(("throughput", "delivered_per_s"))),
        "connect_p50_ms": spread(pick(("connect_ms", "p50"))),
        "lost_total": sum(r["messages"]["lost"] for r in runs),
        "duplicates_total": sum(r["messages"]["duplicates"] for r in runs),
        "sent_total": sum(r["messages"]["sent"] for r in runs),
        "acked_total": sum(r["messages"]["acked"] for r in runs),
        "errors_total": sum(sum(r["errors"].values()) for r in runs),
        # What the run would cost on AWS (client/cost.py, from each run's `chat loadtest --json`).
        "cost_per_million_messages_usd": spread(pick(("cost", "per_million_messages_usd"))),
    }
