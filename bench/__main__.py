"""``python -m bench`` (``make bench``): the benchmarks of the local stack, with a table at the end.

    python -m bench                      # every target row, about 20 minutes
    python -m bench --full               # also 10,000 held and more load shapes (an hour)
    python -m bench --quick              # small sizes, a few minutes
    python -m bench --only send          # sequential sends, requests per send, connects, Query
    python -m bench --only fanout --sizes 1000
    python -m bench --only join          # 1,000 members joined through the protocol
    python -m bench --only load
    python -m bench --only hold --sizes 10000
    python -m bench --only coldstart     # each handler's import time (bench/coldstart.py)
    python -m bench --report             # only rewrite bench/RESULTS.md from bench/results/

Every result goes to ``bench/results/<name>.json``; ``bench/RESULTS.md`` is rewritten from all
of them. Benchmarks are never tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from bench.common import git_commit, machine, raise_fd_limit, utc_now, write_result
from bench.report import write_report

SUITES = ("send", "fanout", "join", "load", "hold", "coldstart")
# What `make bench` runs: one of each target row. `hold` (10,000 connections held, twice)
# takes half an hour alone and runs with --full or --only hold.
DEFAULT_SUITES = ("send", "fanout", "join", "load", "coldstart")

# connections, rooms, senders, total msg/s, seconds
# The target row: 200 connections in 20 rooms, 40 senders at 100 msg/s (1,000 deliveries/s).
LOAD_DEFAULT = [(200, 20, 40, 100.0, 30.0)]
LOAD_FULL = [
    (200, 10, 20, 5.0, 30.0),
    (1000, 20, 50, 5.0, 30.0),
    (200, 20, 40, 100.0, 30.0),
]
LOAD_QUICK = [(100, 5, 10, 5.0, 10.0)]


def _load_configs(text: str) -> list[tuple[int, int, int, float, float]]:
    """``C:R:S:RATE:SECONDS,...``"""
    configs = []
    for part in text.split(","):
        c, r, s, rate, seconds = part.split(":")
        configs.append((int(c), int(r), int(s), float(rate), float(seconds)))
    return configs


def _sizes(text: str | None, default: list[int]) -> list[int]:
    if not text:
        return default
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument(
        "--full", action="store_true", help="also hold 10,000 and more load shapes (an hour)"
    )
    parser.add_argument("--only", choices=SUITES, action="append", help="run only these")
    parser.add_argument("--sizes", help="comma list of N for fanout / join / hold")
    parser.add_argument("--messages", type=int, default=None, help="messages per fan-out run")
    parser.add_argument(
        "--repeats", type=int, default=None, help="repetitions of the load test (1; --full: 3)"
    )
    parser.add_argument(
        "--stack-args",
        default="",
        help="send: extra flags for python -m local, e.g. '--aws-process' (compare setups)",
    )
    parser.add_argument(
        "--load",
        metavar="C:R:S:RATE:SECONDS,...",
        help="load shapes: connections, rooms, senders, total msg/s, seconds of sending",
    )
    parser.add_argument("--processes", type=int, default=None, help="client processes")
    parser.add_argument(
        "--ramp",
        type=float,
        default=200.0,
        help="load: connections opened per second (%(default)s, chat loadtest's own default)",
    )
    parser.add_argument(
        "--moto",
        choices=("embedded", "external", "both"),
        default="both",
        help="hold: moto inside the stack process, in its own process, or both runs; fanout: "
        "'external' runs it with moto in its own process (default: embedded)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="fanout / send: sample the stack with py-spy during two extra messages / as many "
        "extra sends (not in the figures)",
    )
    parser.add_argument(
        "--join-concurrency",
        type=int,
        default=8,
        help="join: joins in flight per client process (%(default)s; 1 = one user at a time)",
    )
    parser.add_argument("--report", action="store_true", help="only rewrite RESULTS.md")
    args = parser.parse_args(argv)

    raise_fd_limit()
    if args.report:
        print(write_report())
        return 0
    suites = args.only or list(SUITES if args.full else DEFAULT_SUITES)
    repeats = args.repeats or (3 if args.full else 1)
    info = {"machine": machine(), "commit": git_commit(), "quick": args.quick}
    failures = 0

    def save(name: str, body: dict[str, Any], started: float) -> None:
        body = {
            "name": name,
            "recorded": utc_now(),
            "seconds": round(time.monotonic() - started, 1),
            **info,
            **body,
            # The machine is shared: how busy it was by the end of this benchmark.
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        }
        print(f"  -> {write_result(name, body)}")

    if "send" in suites:
        print("send: sequential sends, DynamoDB requests per send, connects, members Query")
        started = time.monotonic()
        try:
            from bench.send import run_send

            stack_args = args.stack_args.split()
            body = run_send(
                sends=30 if args.quick else 100,
                connects=100 if args.quick else 500,
                members=1000,
                extra_args=stack_args,
                profile=args.profile,
            )
            suffix = "".join(a.strip("-").replace("-", "_") + "-" for a in stack_args).rstrip("-")
            save("send" + (f"-{suffix}" if suffix else ""), body, started)
        except Exception as exc:  # noqa: BLE001 (report, go on with the others)
            failures += 1
            print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    if "fanout" in suites:
        messages = args.messages or (3 if args.quick else 5)
        for n in _sizes(args.sizes, [200] if args.quick else [1000, 10000]):
            print(f"fanout N={n}")
            started = time.monotonic()
            try:
                from bench.fanout import run_fanout

                body = run_fanout(
                    n,
                    messages=messages,
                    floor_repeats=messages,
                    # 10,000 sequential posts take half a minute each round.
                    tutorial_repeats=3 if args.full or n < 10000 else 1,
                    processes=args.processes,
                    profile=args.profile,
                    moto="external" if args.moto == "external" else "embedded",
                )
                suffix = "-external-moto" if args.moto == "external" else ""
                save(f"fanout-{n}{suffix}", body, started)
            except Exception as exc:  # noqa: BLE001 (report, go on with the others)
                failures += 1
                print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    if "join" in suites:
        for n in _sizes(args.sizes, [100] if args.quick else [1000]):
            print(f"fanout N={n}, members joined through the protocol")
            started = time.monotonic()
            try:
                from bench.fanout import run_fanout

                body = run_fanout(
                    n,
                    messages=args.messages or 3,
                    floor_repeats=3,
                    tutorial_repeats=1,
                    processes=args.processes,
                    join="protocol",
                    join_deadline=300.0,
                    join_concurrency=args.join_concurrency,
                )
                save(f"join-{n}", body, started)
            except Exception as exc:  # noqa: BLE001
                failures += 1
                print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    if "load" in suites:
        from bench.load import run_load

        shapes = (
            _load_configs(args.load)
            if args.load
            else LOAD_QUICK
            if args.quick
            else LOAD_FULL
            if args.full
            else LOAD_DEFAULT
        )
        for connections, rooms, senders, rate, duration in shapes:
            print(
                f"load: {connections} connections, {rooms} rooms, {senders} senders, "
                f"{rate:g} msg/s for {duration:g}s, x{repeats}"
            )
            started = time.monotonic()
            try:
                body = run_load(
                    connections=connections,
                    rooms=rooms,
                    senders=senders,
                    rate=rate,
                    duration=duration,
                    repeats=repeats,
                    ramp=args.ramp,
                )
                save(body["name"], body, started)
            except Exception as exc:  # noqa: BLE001
                failures += 1
                print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    if "hold" in suites:
        from bench.hold import run_hold

        modes = ["embedded", "external"] if args.moto == "both" else [args.moto]
        for n in _sizes(args.sizes, [500] if args.quick else [10000]):
            for mode in modes:
                print(f"hold N={n} (moto {mode})")
                started = time.monotonic()
                try:
                    body = run_hold(n, processes=args.processes, moto=mode)
                    save(f"hold-{n}-{mode}", body, started)
                except Exception as exc:  # noqa: BLE001
                    failures += 1
                    print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    if "coldstart" in suites:
        print("coldstart: import time of every handler, fresh interpreters")
        started = time.monotonic()
        try:
            from bench.coldstart import format_table, run_coldstart

            body = run_coldstart(repeats=args.repeats or 3)
            print(format_table(body))
            save("coldstart", body, started)
        except Exception as exc:  # noqa: BLE001
            failures += 1
            print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    print()
    print(write_report())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
