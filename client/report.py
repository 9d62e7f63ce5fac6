"""The load tester's output: a live progress bar, the final table, ``--json`` and ``--plot``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from client.context import Environment

if TYPE_CHECKING:
    from client.loadtest import LoadResult, LoadRun

__all__ = ["ProgressView", "render_table", "write_json", "write_plot"]


class ProgressView:
    """A progress bar on stderr (only shown on a terminal) that polls the run's live counters."""

    def __init__(self, run: LoadRun, env: Environment, *, every: float = 0.2) -> None:
        self.run = run
        self.every = every
        self.progress = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TextColumn("{task.completed:>7.0f}/{task.total:<7.0f}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(file=env.stderr),
            transient=True,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.progress.start()
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.progress.stop()

    async def _poll(self) -> None:
        config = self.run.config
        result = self.run.result
        connect = self.progress.add_task("connect", total=config.connections, detail="")
        planned = int(config.duration * config.rate) or 1
        send = self.progress.add_task("send", total=planned, detail="", start=False)
        while True:
            errors = sum(result.errors.values())
            self.progress.update(
                connect,
                completed=self.run.attempted,
                detail=f"{len(result.connect_ms)} open, {errors} errors",
            )
            if self.run.phase != "connect":
                self.progress.start_task(send)
                self.progress.update(
                    send,
                    completed=result.acked,
                    detail=f"{len(result.latency_ms)} delivered, {self.run.phase}",
                )
            await asyncio.sleep(self.every)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render_table(result: LoadResult, env: Environment) -> None:
    from client.loadtest import percentiles

    console = Console(file=env.stdout, no_color=not env.color, width=100, highlight=False)
    config = result.config
    console.print(
        f"{result.connected}/{config.connections} connections over {config.rooms} rooms, "
        f"{config.senders} senders at {config.rate:g} msg/s for {config.duration:g}s, "
        f"{config.size}-character messages"
    )
    latency = Table(box=box.SIMPLE, title=None)
    latency.add_column("latency (ms)")
    for name in ("count", "p50", "p95", "p99", "max"):
        latency.add_column(name, justify="right")
    for label, values in (("connect", result.connect_ms), ("end-to-end", result.latency_ms)):
        p = percentiles(values)
        if p is None:
            latency.add_row(label, "0", "-", "-", "-", "-")
        else:
            latency.add_row(label, f"{p.count:,}", _ms(p.p50), _ms(p.p95), _ms(p.p99), _ms(p.max))
    console.print(latency)

    counts = Table(box=box.SIMPLE, show_header=False)
    counts.add_column("what")
    counts.add_column("value", justify="right")
    tp = result.throughput
    rows = [
        ("sent / acked", f"{result.sent:,} / {result.acked:,}"),
        (
            "throughput",
            f"{tp['sent_per_s']:,.1f} msg/s in, {tp['delivered_per_s']:,.1f} deliveries/s out",
        ),
        ("stored (history) / without ack", f"{result.stored:,} / {result.stored_unacked:,}"),
        ("lost (acked, not stored)", f"{result.lost:,}"),
        ("expected deliveries", f"{result.expected:,}"),
        ("delivered in the drain window", f"{result.delivered:,}"),
        ("late (after the drain window)", f"{result.late:,}"),
        ("undelivered (connected throughout)", f"{result.undelivered:,}"),
        ("missed after an interruption", f"{result.missed:,}"),
        ("duplicated", f"{result.duplicates:,}"),
        ("out of order", f"{result.out_of_order:,}"),
        ("unacked deliveries", f"{result.unacked_deliveries:,}"),
        ("client: wire duplicates dropped", f"{result.wire_duplicates:,}"),
        ("client: wire reordered", f"{result.wire_reordered:,}"),
        ("client: gap fills / reconnects", f"{result.gap_fills:,} / {result.reconnects:,}"),
        ("client: filled from history", f"{result.filled:,}"),
        (
            "client: batched frames / messages",
            f"{result.batched_frames:,} / {result.batched_messages:,}",
        ),
    ]
    if result.unverified:
        rows.insert(3, ("unverified (history unreadable)", f"{result.unverified:,}"))
    errors = ", ".join(f"{code} {n:,}" for code, n in sorted(result.errors.items())) or "none"
    rows.append(("errors", errors))
    alarming = {
        "lost (acked, not stored)": result.lost,
        "unverified (history unreadable)": result.unverified,
        "undelivered (connected throughout)": result.undelivered,
        "missed after an interruption": result.missed,
    }
    for label, value in rows:
        style = "bold red" if alarming.get(label) else None
        counts.add_row(label, value, style=style)
    console.print(counts)
    _render_cost(result, console)


def _render_cost(result: LoadResult, console: Console) -> None:
    from client import cost

    estimate = cost.for_load(result.summary(), result.config.url)
    table = Table(box=box.SIMPLE, title=cost.title(estimate), title_justify="left")
    for name, justify in (("item", "left"), ("usage", "right"), ("cost", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in cost.rows(estimate):
        table.add_row(*row)
    console.print(table)


def write_json(result: LoadResult, path: str) -> None:
    from client.cost import for_load

    summary = result.summary()
    summary["cost"] = for_load(summary, result.config.url).as_dict()
    Path(path).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def write_plot(result: LoadResult, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must be chosen before pyplot is imported
    import matplotlib.pyplot as plt

    figure, (hist, timeline) = plt.subplots(2, 1, figsize=(9, 7))
    if result.latency_ms:
        hist.hist(result.latency_ms, bins=60, color="#4477aa")
    hist.set_title("end-to-end delivery latency")
    hist.set_xlabel("ms")
    hist.set_ylabel("deliveries")
    points = result.timeline()
    seconds = [p["second"] for p in points]
    timeline.plot(seconds, [p["sent"] for p in points], label="acked sends/s", marker="o")
    timeline.plot(seconds, [p["delivered"] for p in points], label="deliveries/s", marker=".")
    timeline.set_title("throughput")
    timeline.set_xlabel("seconds since the first send")
    timeline.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
