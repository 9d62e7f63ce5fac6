"""N concurrent connections held: connect rate and the memory each connection costs.

The stack starts, a warm-up of 100 connections starts the authorizer and ``$connect`` worker
pools (a fixed cost, not a per-connection one), then the baseline is read: RSS of the stack's
main process (gateway, ``@connections``, event sources and, unless moto runs outside, the
embedded moto server) and of the whole process tree (plus the Lambda workers). N more
connections open; after they settle and are held for a while, the same figures are read again.
Per-connection cost = growth / N.

With ``moto="external"`` the stack is pointed at a moto server in a separate process
(``--endpoint``), so the gateway process's growth and the growth of the data moto holds for each
connection (its ConnectionsTable item) are measured apart.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.clients import ClientPool, split
from bench.common import RESULTS_DIR, descendants, free_port, open_fds, rss_bytes
from bench.fanout import _connect_figures
from bench.stack import StackProcess

WARM_UP = 100


def moto_server(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    """A moto server in its own process on a free port (the stack's ``--endpoint``)."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=open(log_path, "wb"),  # noqa: SIM115 (the child owns it)
    )
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def _tree(pid: int) -> dict[str, Any]:
    kids = descendants(pid)
    return {
        "main_rss": rss_bytes(pid),
        "children_rss": sum(rss_bytes(k) for k in kids),
        "processes": 1 + len(kids),
        "main_fds": open_fds(pid),
    }


def run_hold(
    n: int,
    *,
    processes: int | None = None,
    connect_concurrency: int = 32,
    hold_seconds: float = 15.0,
    moto: str = "embedded",
    log=print,  # noqa: ANN001
) -> dict[str, Any]:
    processes = processes or max(2, math.ceil(n / 4000))
    out: dict[str, Any] = {
        "n": n,
        "moto": moto,
        "client_processes": processes,
        "connect_concurrency": connect_concurrency,
        "warm_up_connections": WARM_UP,
    }
    moto_proc = None
    extra: list[str] = []
    if moto == "external":
        moto_proc, url = moto_server(RESULTS_DIR / "logs" / f"moto-{n}.log")
        extra = ["--endpoint", url]
    stack = StackProcess(
        log_path=RESULTS_DIR / "logs" / f"hold-{n}-{moto}.log", extra_args=extra
    ).start()
    pool = ClientPool(processes)
    try:
        log(f"  stack up in {stack.started_seconds:.1f}s (pid {stack.pid}), moto {moto}")
        per = max(1, connect_concurrency // processes)
        warm = [stack.token(f"w{i}") for i in range(WARM_UP)]
        pool.each(
            [("connect", "w", stack.ws_url, part, per, 60) for part in split(warm, processes)],
            timeout=300,
        )
        time.sleep(3)
        out["before"] = _tree(stack.pid)
        if moto_proc is not None:
            out["before"]["moto_rss"] = rss_bytes(moto_proc.pid)
        out["client_rss_before"] = pool.all("rss", timeout=30)
        tokens = [stack.token(f"h{i:05d}") for i in range(n)]
        answers = pool.each(
            [("connect", "h", stack.ws_url, part, per, 60) for part in split(tokens, processes)],
            timeout=max(300, n / 5),
        )
        out["connect"] = _connect_figures(answers, n)
        log(
            f"  connected {out['connect']['connected']}/{n} at {out['connect']['per_second']}/s; "
            f"holding {hold_seconds:.0f}s"
        )
        time.sleep(hold_seconds)
        out["after"] = _tree(stack.pid)
        if moto_proc is not None:
            out["after"]["moto_rss"] = rss_bytes(moto_proc.pid)
        out["client_rss_after"] = pool.all("rss", timeout=30)
        held = pool.all("wait", "h", "never", 0, timeout=30)
        out["still_open"] = sum(len(a["times_ns"]) + a["missing"] - a["closed"] for a in held)
        connected = out["connect"]["connected"] or 1
        b, a = out["before"], out["after"]
        per_conn: dict[str, Any] = {
            "stack_main_bytes": round((a["main_rss"] - b["main_rss"]) / connected),
            "stack_tree_bytes": round(
                (a["main_rss"] + a["children_rss"] - b["main_rss"] - b["children_rss"]) / connected
            ),
            "client_bytes": round(
                (sum(out["client_rss_after"]) - sum(out["client_rss_before"])) / connected
            ),
        }
        if moto_proc is not None:
            per_conn["moto_bytes"] = round((a["moto_rss"] - b["moto_rss"]) / connected)
        out["per_connection"] = per_conn
        log(f"  per connection: {per_conn}")
    finally:
        try:
            pool.all("abort", "h", timeout=60)
            pool.all("abort", "w", timeout=60)
        except Exception:  # noqa: BLE001 (teardown goes on)
            pass
        out["stack_stop"] = stack.stop()
        pool.close()
        if moto_proc is not None:
            moto_proc.send_signal(signal.SIGTERM)
            try:
                moto_proc.wait(20)
            except subprocess.TimeoutExpired:
                moto_proc.kill()
                moto_proc.wait(5)
    return out


if __name__ == "__main__":  # pragma: no cover - manual use
    print(run_hold(int(os.environ.get("N", "200"))))
