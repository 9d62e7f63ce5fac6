"""``bench/RESULTS.md`` from the JSON files under ``bench/results/``: one table per benchmark."""

from __future__ import annotations

from typing import Any

from bench.common import RESULTS_DIR, fmt_spread, load_results, spread

RESULTS_MD = RESULTS_DIR.parent / "RESULTS.md"


def _kb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1024:.1f} KB"


def _ms(s: dict[str, float] | None, digits: int = 0) -> str:
    return fmt_spread(s, digits, " ms")


def _fanout_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| N | commit | membership | path | send -> last recipient | p50 | p99 | first | late "
        "| dup |",
        "| ---: | --- | --- | --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    keyed = [
        (r["n"], r.get("recorded", ""), r)
        for name, r in results.items()
        if name.startswith(("fanout-", "join-")) and "stack" in r
    ]
    for n, _name, r in sorted(keyed):
        membership = "join action" if r.get("membership") == "protocol" else "direct writes"
        for label, key in (
            ("local stack", "stack"),
            ("floor: websockets.broadcast", "floor"),
            ("tutorial: sequential post_to_connection", "tutorial"),
        ):
            part = r.get(key) or {}
            if not part.get("runs"):
                continue
            digits = 1 if key == "floor" else 0
            rows.append(
                f"| {n:,} | {r.get('commit', '')} | {membership} | {label} | "
                f"{_ms(part.get('last_ms'), digits)} | "
                f"{_ms(part.get('p50_ms'), digits)} | {_ms(part.get('p99_ms'), digits)} | "
                f"{_ms(part.get('first_ms'), digits)} | {part.get('missing_total', 0)} | "
                f"{r.get('duplicates', 0) if key == 'stack' else '-'} |"
            )
    return rows


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _phase_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| N | commit | ack | stored (chat fn) | broadcast fn done | first recipient | chunks "
        "posted (first / last) | last recipient | cold first message | members Query (moto, "
        "from outside) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for name, r in sorted(results.items(), key=lambda kv: (kv[1].get("n", 0), kv[0])):
        stack = r.get("stack") or {}
        phases = stack.get("phases") or []
        if not name.startswith(("fanout-", "join-")) or not phases:
            continue
        runs = stack["runs"]

        def med(values: list[Any]) -> str:
            m = _median([v for v in values if v is not None])
            return "n/a" if m is None else f"{m:.0f} ms"

        first_chunk = [p["chunks_done_ms"][0] if p["chunks_done_ms"] else None for p in phases]
        last_chunk = [p["chunks_done_ms"][-1] if p["chunks_done_ms"] else None for p in phases]
        cold = (r.get("cold_message") or {}).get("last_ms")
        q = r.get("members_query") or {}
        rows.append(
            f"| {r['n']:,} | {r.get('commit', '')} | {med([x.get('ack_ms') for x in runs])} | "
            f"{med([p['stored_ms'] for p in phases])} | "
            f"{med([p['broadcast_done_ms'] for p in phases])} | "
            f"{med([x['first_ms'] for x in runs])} | "
            f"{med(first_chunk)} / {med(last_chunk)} | {med([x['last_ms'] for x in runs])} | "
            f"{'n/a' if cold is None else f'{cold:.0f} ms'} | "
            f"{q.get('items', 0):,} items in {q.get('ms', 0):.0f} ms |"
        )
    return rows


def _cpu_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| N | commit | path | CPU seconds per message, median (by process) |",
        "| ---: | --- | --- | --- |",
    ]
    for name, r in sorted(results.items(), key=lambda kv: (kv[1].get("n", 0), kv[0])):
        if not name.startswith(("fanout-", "join-")):
            continue
        for label, key in (("local stack", "stack"), ("tutorial loop", "tutorial")):
            runs = [x for x in (r.get(key) or {}).get("runs", []) if x.get("cpu_seconds")]
            if not runs:
                continue
            names = sorted({k for x in runs for k in x["cpu_seconds"]})
            parts = []
            for k in names:
                m = _median([x["cpu_seconds"].get(k, 0.0) for x in runs])
                if m is not None and m >= 0.05:
                    parts.append(f"{k} {m:.1f}")
            rows.append(f"| {r['n']:,} | {r.get('commit', '')} | {label} | {', '.join(parts)} |")
    return rows if len(rows) > 2 else []


def _connect_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| benchmark | N | connected | connects/s | connect p50 | connect p99 | concurrency |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in sorted(results.items()):
        for key, label in (("connect", "local stack"), ("floor_connect", "floor server")):
            c = r.get(key)
            if not c or not c.get("latency_ms"):
                continue
            lat = c["latency_ms"]
            rows.append(
                f"| {name} ({label}) | {c['requested']:,} | {c['connected']:,} | "
                f"{c['per_second']:.0f} | {lat['p50']:.0f} ms | {lat['p99']:.0f} ms | "
                f"{r.get('connect_concurrency', '')} |"
            )
    return rows


def _join_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for name, r in sorted(results.items()):
        j = r.get("protocol_join")
        if not j:
            continue
        lat = j.get("latency_ms") or {}
        rows.append(
            f"- {name}: {j['joined']:,} of {r['n']:,} joined through `join` in "
            f"{j['seconds']:.0f} s "
            f"({j['per_second']:.1f} joins/s; presence posted {j.get('presence_posts', 0):,.0f} "
            f"times, skipped for {j.get('presence_skipped', 0):,.0f} joins; join "
            f"latency p50 {lat.get('p50', 0):.0f} ms, p99 {lat.get('p99', 0):.0f} ms; "
            f"{j['errors']} not joined within {j['deadline_s']:.0f} s)."
        )
    return rows


def _load_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| connections / rooms / senders | opened/s | connected | msg/s offered | acked msg/s | "
        "deliveries/s | p50 | p95 | p99 | max | sent / acked | lost | dup | errors |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: | ---: "
        "| ---: |",
    ]
    for name, r in sorted(results.items()):
        if not name.startswith("load-"):
            continue
        c = r["config"]
        rows.append(
            f"| {c['connections']} / {c['rooms']} / {c['senders']} | {c['ramp']:g} | "
            f"{fmt_spread(spread(x['connections']['connected'] for x in r['runs']))} | "
            f"{c['rate']:g} | "
            f"{fmt_spread(r['sent_per_s'], 0)} | {fmt_spread(r['delivered_per_s'], 0)} | "
            f"{_ms(r['latency_p50_ms'])} | {_ms(r['latency_p95_ms'])} | "
            f"{_ms(r['latency_p99_ms'])} | {_ms(r['latency_max_ms'])} | "
            f"{r['sent_total']} / {r['acked_total']} | {r['lost_total']} | "
            f"{r['duplicates_total']} | {r['errors_total']} |"
        )
    return rows


def _hold_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| N | moto | connected | still open | connects/s | connect p50 / p99 | stack process "
        "/ conn | whole tree / conn | moto process / conn | client / conn |",
        "| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in sorted(results.items()):
        if not name.startswith("hold-"):
            continue
        c = r["connect"]
        p = r["per_connection"]
        lat = c.get("latency_ms") or {}
        rows.append(
            f"| {r['n']:,} | {r['moto']} | {c['connected']:,} | {r.get('still_open', '')} | "
            f"{c['per_second']:.0f} | {lat.get('p50', 0):.0f} / {lat.get('p99', 0):.0f} ms | "
            f"{_kb(p['stack_main_bytes'])} | {_kb(p['stack_tree_bytes'])} | "
            f"{_kb(p.get('moto_bytes'))} | {_kb(p['client_bytes'])} |"
        )
    return rows


def _med(s: dict[str, float] | None, scale: float = 1.0, digits: int = 0, unit: str = "") -> str:
    if not s:
        return "n/a"
    return f"{s['median'] * scale:.{digits}f}{unit}"


def _dist(d: dict[str, float] | None, key: str, digits: int = 0) -> str:
    return "n/a" if not d or d.get(key) is None else f"{d[key]:.{digits}f} ms"


def _target_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """One row per target: the goal, the latest figure, the floor beside it, the commit."""
    rows = [
        "| what | goal | measured | floor / beside it | commit |",
        "| --- | --- | --- | --- | --- |",
    ]
    send = results.get("send")
    if send:
        sp = send["send"]
        ops = ", ".join(f"{k} {v:g}" for k, v in sp["dynamodb_by_operation_per_send"].items())
        floor = send.get("http_post_floor") or {}
        rows += [
            f"| DynamoDB requests per send (2-member room, chat fn + broadcast, on the wire) | "
            f"<= 3 | {sp['dynamodb_requests_per_send']:g} ({ops}) | | {send['commit']} |",
            f"| one sender's sequential sends: ack p50 / delivery p50 | <= 20 / <= 60 ms | "
            f"{_dist(sp['ack_ms'], 'p50')} / {_dist(sp['delivery_ms'], 'p50')} "
            f"(p99 {_dist(sp['ack_ms'], 'p99')} / {_dist(sp['delivery_ms'], 'p99')}; "
            f"{sp['sends_per_second']:g} sends/s) | bare HTTP POST "
            f"{floor.get('ms_per_post', 'n/a')} ms | {send['commit']} |",
            f"| connects (authorizer + `$connect`, 32 in flight) | >= 300/s | "
            f"{send['connect']['per_second']}/s ({send['connect']['connected']} of "
            f"{send['connect']['requested']}) | | {send['commit']} |",
            f"| members Query of 1,000 items (boto3 from outside, every page) | <= 30 ms | "
            f"{_dist(send['members_query']['ms'], 'p50', 1)} p50, "
            f"{_dist(send['members_query']['ms'], 'p99', 1)} p99 | | {send['commit']} |",
        ]
    load = next(
        (r for n, r in sorted(results.items()) if n.startswith("load-200c-20r-40s-100")), None
    )
    if load:
        connected = spread(x["connections"]["connected"] for x in load["runs"])
        rows.append(
            f"| `chat loadtest -n 200 -r 20 -s 40 --rate 100 -d 30` | 200/200, every send "
            f"acked, 0 lost, 0 dup, e2e p99 <= 1 s | {_med(connected)}/200 connected, "
            f"{load['acked_total']} of {load['sent_total']} acked, {load['lost_total']} lost, "
            f"{load['duplicates_total']} dup, p50 {_med(load['latency_p50_ms'], unit=' ms')}, "
            f"p99 {_med(load['latency_p99_ms'], unit=' ms')} | | {load['commit']} |"
        )
    join = results.get("join-1000")
    if join and join.get("protocol_join"):
        j = join["protocol_join"]
        rows.append(
            f"| `join` through the protocol, 1,000 members | >= 100 joins/s | "
            f"{j['per_second']:.1f} joins/s ({j['joined']:,} joined, "
            f"{j.get('concurrency_per_process', 1) * j.get('client_processes', 2)} in flight) | | "
            f"{join['commit']} |"
        )
    for n, goal in ((1000, "<= 0.5 s"), (10000, "<= 5 s")):
        r = results.get(f"fanout-{n}")
        if not r or "stack" not in r:
            continue
        rows.append(
            f"| fan-out to {n:,} members, send -> last recipient | {goal} | "
            f"{_med(r['stack'].get('last_ms'), 0.001, 2, ' s')} | websockets.broadcast "
            f"{_med((r.get('floor') or {}).get('last_ms'), 0.001, 2, ' s')}; sequential "
            f"post_to_connection {_med((r.get('tutorial') or {}).get('last_ms'), 0.001, 1, ' s')}"
            f" | {r['commit']} |"
        )
    return rows


def write_report() -> str:
    results = load_results()
    machines = {
        f"{r['machine']['cpu_model']}, {r['machine']['cpus']} CPUs, "
        f"{r['machine']['memory_gb']} GB, Python {r['machine']['python']}"
        for r in results.values()
        if "machine" in r
    }
    recorded = sorted(r.get("recorded", "") for r in results.values())
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench` from `bench/results/*.json` (one file per benchmark, with "
        "every repetition). How they are measured and what limits them: "
        "`docs/benchmarks.md`.",
        "",
        f"Machine: {'; '.join(sorted(machines)) or 'n/a'}. Other work ran on the machine at the "
        "same time, so figures are noisy: each is the median of its repetitions with "
        "(min-max, n) beside it.",
        f"Recorded: {recorded[0] if recorded else 'n/a'} .. {recorded[-1] if recorded else ''}.",
        "",
        "## Targets",
        "",
        "The latest run of each (`python -m bench` runs them all; `--only send` and so on "
        "one). Each row names the commit it measured.",
        "",
        *_target_rows(results),
        "",
        "## Fan-out to one room (send -> every recipient)",
        "",
        "Latencies are per message from the send to the arrival at each recipient; the median "
        "over messages, (min-max, n messages). Late: deliveries that had not arrived when the "
        "wait for that message ended (200 s at 10,000). Dup: deliveries that arrived twice on "
        "the wire in the whole run (clients de-duplicate by `id`). Floor: a bare `websockets` "
        "server in its own "
        "process, `websockets.broadcast` of the same payload to N connections held by the same "
        "client processes. Tutorial: one boto3 `post_to_connection` at a time to the stack's "
        "`@connections` (HTTPS), the same N connection ids.",
        "",
        *_fanout_rows(results),
        "",
        *_join_rows(results),
        "",
        "Where a stack fan-out spends its time (median over the measured messages, ms after "
        "the send; stored / broadcast / chunk times are the handlers' log lines, which have "
        "millisecond resolution):",
        "",
        *_phase_rows(results),
        "",
        "CPU time used while one message fans out (from `/proc`; `stack` is the `python -m "
        "local` process: gateway, `@connections`, event sources and the embedded moto; "
        "`worker:<fn>` are the Lambda worker processes; `loop` is the tutorial loop's own "
        "process). The machine has 2 cores, so more than ~2 s of CPU per second of wall time "
        "is not available:",
        "",
        *_cpu_rows(results),
        "",
        "## Connect rate",
        "",
        "Each stack connect is an upgrade held through the authorizer and `$connect` "
        "invocations; concurrency is the number of upgrades the clients keep in flight.",
        "",
        *_connect_rows(results),
        "",
        "## Sustained load (`chat loadtest`)",
        "",
        "Median over fresh-stack repetitions (min-max, n). Latency is send -> each member; "
        "lost and dup are counted against acks after the client's de-duplication by id.",
        "",
        *_load_rows(results),
        "",
        "## Connections held, memory per connection",
        "",
        "RSS growth over the baseline (after a 100-connection warm-up that starts the worker "
        "pools) divided by N, after the connections were held for 15 s.",
        "",
        *_hold_rows(results),
        "",
    ]
    text = "\n".join(lines)
    RESULTS_MD.write_text(text)
    return text
