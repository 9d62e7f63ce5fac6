"""Fan-out through the whole local stack, beside the floor and the tutorial loop, same clients.

One run for one room size N:

1. ``python -m local`` starts; P client processes open N WebSocket connections with dev tokens
   (each an upgrade held through the authorizer and ``$connect`` invocations): connect rate and
   latency, and the stack's memory before and after.
2. The N connections become members of one room. Joining through the protocol posts a presence
   event to every existing member (O(N^2) posts for N joins), so by default the membership items
   are written straight into ConnectionsTable with boto3 against the stack's AWS endpoint, the
   items the ``join`` action writes (``pk=ROOM#room, sk=CONN#id, userId, name, joinedAt,
   expiresAt``). ``--join protocol`` joins through the ``join`` action instead (timed, bounded).
3. A sender (a further connection that joined through the protocol before the others) sends
   messages; each recipient timestamps the first arrival. Send -> last recipient, and p50/p99.
4. In the same run, to the same client processes: (a) the floor, ``websockets.broadcast`` of the
   same payload from a bare server in its own process to N connections the same clients hold
   open; (b) the tutorial loop, one boto3 ``post_to_connection`` at a time over HTTPS to the
   stack's ``@connections`` API, to the same N connection ids.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from bench.clients import ClientPool, split
from bench.common import (
    RESULTS_DIR,
    cpu_by_component,
    cpu_delta,
    distribution,
    rss_bytes,
    spread,
)
from bench.floor import FloorServer
from bench.stack import StackProcess

TEXT_CHARS = 100


def _text(key: str) -> str:
    head = f"bm:{key};"
    return head + "x" * max(0, TEXT_CHARS - len(head))


def _event(key: str, room: str, seq: int) -> str:
    """The shape and size of the ``message`` event the stack delivers for one send."""
    return json.dumps(
        {
            "type": "message",
            "id": str(uuid.uuid4()),
            "room": room,
            "seq": seq,
            "from": "sender",
            "name": "sender",
            "text": _text(key),
            "ts": int(time.time() * 1000),
        },
        separators=(",", ":"),
    )


def _connect_figures(answers: list[dict[str, Any]], requested: int) -> dict[str, Any]:
    latencies = [x for a in answers for x in a["latency_ms"]]
    finished = [x for a in answers for x in a["finished_ns"]]
    started = min(a["started_ns"] for a in answers)
    errors: dict[str, int] = {}
    for a in answers:
        for k, v in a["errors"].items():
            errors[k] = errors.get(k, 0) + v
    seconds = (max(finished) - started) / 1e9 if finished else float("nan")
    return {
        "requested": requested,
        "connected": len(latencies),
        "errors": errors,
        "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 1) if finished else 0.0,
        "latency_ms": distribution(latencies),
    }


def _wait(pool: ClientPool, tag: str, key: str, sent_ns: int, timeout: float) -> dict[str, Any]:
    answers = pool.all("wait", tag, key, timeout, timeout=timeout + 30)
    times = [t for a in answers for t in a["times_ns"]]
    latencies = [(t - sent_ns) / 1e6 for t in times]
    d = distribution(latencies) or {}
    return {
        "received": len(times),
        "missing": sum(a["missing"] for a in answers),
        "closed": sum(a["closed"] for a in answers),
        "first_ms": min(latencies) if latencies else None,
        "p50_ms": d.get("p50"),
        "p99_ms": d.get("p99"),
        "last_ms": max(latencies) if latencies else None,
    }


def _scan_connections(stack: StackProcess, table: str) -> dict[str, str]:
    """ownerId -> connection id, from the connection items ``$connect`` wrote."""
    ddb = stack.client("dynamodb")
    owners: dict[str, str] = {}
    for page in ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="sk = :m",
        ExpressionAttributeValues={":m": {"S": "META"}},
        ProjectionExpression="pk, ownerId",
    ):
        for item in page["Items"]:
            owners[item["ownerId"]["S"]] = item["pk"]["S"].removeprefix("CONN#")
    return owners


def _batch_write(stack: StackProcess, table: str, requests: list[dict[str, Any]]) -> None:
    ddb = stack.client("dynamodb")
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[start : start + 25]}
        for _ in range(10):
            answer = ddb.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(0.05)


def _write_memberships(stack: StackProcess, table: str, room: str, members: dict[str, str]) -> None:
    now = time.time()
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "pk": {"S": f"ROOM#{room}"},
                    "sk": {"S": f"CONN#{cid}"},
                    "userId": {"S": user},
                    "name": {"S": user},
                    "joinedAt": {"N": str(int(now * 1000))},
                    "expiresAt": {"N": str(int(now) + 7200)},
                }
            }
        }
        for user, cid in members.items()
    ]
    _batch_write(stack, table, requests)


def _delete_memberships(stack: StackProcess, table: str, room: str, cids: list[str]) -> None:
    requests = [
        {"DeleteRequest": {"Key": {"pk": {"S": f"ROOM#{room}"}, "sk": {"S": f"CONN#{cid}"}}}}
        for cid in cids
    ]
    _batch_write(stack, table, requests)


def run_fanout(
    n: int,
    *,
    messages: int = 5,
    floor_repeats: int = 5,
    tutorial_repeats: int = 3,
    processes: int | None = None,
    connect_concurrency: int = 32,
    join: str = "direct",
    join_deadline: float = 300.0,
    join_concurrency: int = 1,
    tutorial_limit: float = 180.0,
    profile: bool = False,
    moto: str = "embedded",
    log=print,  # noqa: ANN001
) -> dict[str, Any]:
    processes = processes or max(2, math.ceil(2 * n / 6000))
    run_id = uuid.uuid4().hex[:6]
    room = f"bench-{run_id}"
    suffix = "-external-moto" if moto == "external" else ""
    log_path = RESULTS_DIR / "logs" / f"fanout-{n}{suffix}.log"
    out: dict[str, Any] = {
        "n": n,
        "client_processes": processes,
        "connect_concurrency": connect_concurrency,
        "membership": join,
        "text_chars": TEXT_CHARS,
        "loadavg_before": os.getloadavg(),
    }
    moto_proc = None
    extra: list[str] = []
    if moto == "external":
        from bench.hold import moto_server

        moto_proc, url = moto_server(RESULTS_DIR / "logs" / f"moto-fanout-{n}.log")
        extra = ["--endpoint", url]
        out["moto"] = "external"
    stack = StackProcess(log_path=Path(log_path), extra_args=extra).start()
    pool = ClientPool(processes)
    floor = FloorServer()
    try:
        log(f"  stack up in {stack.started_seconds:.1f}s (pid {stack.pid}); {processes} clients")
        conn_table = stack.table("ConnectionsTable")
        sender_token = stack.token("sender", "sender")
        answer = pool.one(0, "connect", "sender", stack.ws_url, [sender_token], 1, 60, timeout=90)
        if answer["errors"]:
            raise RuntimeError(f"sender could not connect: {answer['errors']}")
        joined = pool.one(0, "join", "sender", room, 1, 30, 60, timeout=90)
        if joined["errors"]:
            raise RuntimeError("sender could not join")

        # ---- connect N
        users = [f"u{i:05d}" for i in range(n)]
        tokens = [stack.token(u, u) for u in users]
        before = stack.tree_rss()
        per = max(1, connect_concurrency // processes)
        t = time.monotonic()
        answers = pool.each(
            [("connect", "r", stack.ws_url, part, per, 60) for part in split(tokens, processes)],
            timeout=max(300, n / 5),
        )
        out["connect"] = _connect_figures(answers, n)
        log(
            f"  connected {out['connect']['connected']}/{n} in {time.monotonic() - t:.1f}s "
            f"({out['connect']['per_second']}/s)"
        )
        time.sleep(2)
        after = stack.tree_rss()
        connected = out["connect"]["connected"]
        out["stack_memory"] = {
            "before": before,
            "after": after,
            "main_per_connection_bytes": round((after["main"] - before["main"]) / connected)
            if connected
            else None,
        }
        floor_before = rss_bytes(floor.pid)
        answers = pool.each(
            [
                ("connect", "f", floor.url, [None] * len(part), per, 60)
                for part in split(users, processes)
            ],
            timeout=max(300, n / 5),
        )
        out["floor_connect"] = _connect_figures(answers, n)
        time.sleep(1)
        floor_after = rss_bytes(floor.pid)
        out["floor_memory"] = {
            "before": floor_before,
            "after": floor_after,
            "per_connection_bytes": round((floor_after - floor_before) / max(1, n)),
        }
        log(f"  floor connected {out['floor_connect']['connected']}/{n}")

        # ---- membership
        owners = _scan_connections(stack, conn_table)
        members = {u: owners[u] for u in users if u in owners}
        out["members"] = len(members)
        if join == "protocol":
            t = time.monotonic()
            answers = pool.all(
                "join", "r", room, join_concurrency, 60, join_deadline, timeout=join_deadline + 90
            )
            took = time.monotonic() - t
            lat = [x for a in answers for x in a["latency_ms"]]
            out["protocol_join"] = {
                "joined": len(lat),
                "errors": sum(a["errors"] for a in answers),
                "seconds": round(took, 2),
                "per_second": round(len(lat) / took, 2),
                "latency_ms": distribution(lat),
                "deadline_s": join_deadline,
                # joins in flight per client process (users joining at the same time)
                "concurrency_per_process": join_concurrency,
                "client_processes": processes,
            }
            log(f"  protocol join: {len(lat)}/{n} in {took:.1f}s")
            out["protocol_join"].update(_join_metrics(log_path))
            if len(lat) < len(members):
                _write_memberships(stack, conn_table, room, members)
        else:
            t = time.monotonic()
            _write_memberships(stack, conn_table, room, members)
            out["direct_membership_seconds"] = round(time.monotonic() - t, 2)
            log(f"  {len(members)} membership items written in {time.monotonic() - t:.1f}s")

        # ---- stack fan-out and floor, interleaved
        stack_runs: list[dict[str, Any]] = []
        floor_runs: list[dict[str, Any]] = []
        wait_s = max(60.0, n / 50)

        def send(key: str) -> dict[str, Any]:
            frame = json.dumps(
                {"action": "send", "room": room, "text": _text(key), "ref": f"bm:{key}a;"}
            )
            cpu0 = cpu_by_component(stack.pid)
            sent, wall = pool.one(0, "send", "sender", 0, frame, timeout=30)
            r = _wait(pool, "r", key, sent, wait_s)
            r["cpu_seconds"] = cpu_delta(cpu0, cpu_by_component(stack.pid))
            r["sent_wall"] = wall
            ack = pool.one(0, "wait", "sender", f"{key}a", 10, timeout=30)
            r["ack_ms"] = (ack["times_ns"][0] - sent) / 1e6 if ack["times_ns"] else None
            return r

        # The first message starts the stream and queue consumers' workers (cold starts):
        # reported on its own, never mixed with the warm figures.
        out["cold_message"] = send(f"{run_id}w")
        log(f"  cold message: last {out['cold_message']['last_ms']} ms")
        time.sleep(1.0)
        for k in range(max(messages, floor_repeats)):
            if k < messages:
                r = send(f"{run_id}s{k}")
                stack_runs.append(r)
                log(
                    f"  stack  #{k}: last {r['last_ms']:.0f} ms, p50 {r['p50_ms']:.0f}, "
                    f"ack {r['ack_ms']:.0f}, missing {r['missing']}"
                    if r["last_ms"] is not None
                    else f"  stack  #{k}: nothing arrived"
                )
                time.sleep(1.0)
            if k < floor_repeats:
                key = f"{run_id}f{k}"
                b = floor.call("broadcast", _event(key, room, k + 1), timeout=60)
                r = _wait(pool, "f", key, b["sent_ns"], 60)
                r["broadcast_call_ms"] = (b["returned_ns"] - b["sent_ns"]) / 1e6
                floor_runs.append(r)
                log(f"  floor  #{k}: last {r['last_ms']:.1f} ms, missing {r['missing']}")
                time.sleep(0.5)
        out["stack"] = {"runs": stack_runs, **_summary(stack_runs)}
        out["stack"]["phases"] = _phases(log_path, [r["sent_wall"] for r in stack_runs])
        # What the broadcast function's member Query costs moto alone, from outside.
        t = time.monotonic()
        ddb = stack.client("dynamodb")
        items = 0
        for page in ddb.get_paginator("query").paginate(
            TableName=conn_table,
            KeyConditionExpression="pk = :r",
            ExpressionAttributeValues={":r": {"S": f"ROOM#{room}"}},
        ):
            items += len(page["Items"])
        out["members_query"] = {"items": items, "ms": round((time.monotonic() - t) * 1000, 1)}
        log(f"  members query from outside: {items} items in {out['members_query']['ms']} ms")
        if profile:
            # Not part of the figures above: py-spy samples the stack and its workers while two
            # more messages fan out, to show where the time goes.
            from bench.profile import ProfileRecorder

            with ProfileRecorder(stack.pid, RESULTS_DIR / "profiles" / f"fanout-{n}") as rec:
                out["profiled_messages"] = [send(f"{run_id}p{k}") for k in range(2)]
            out["profile"] = rec.summary
        out["floor"] = {"runs": floor_runs, **_summary(floor_runs)}

        # ---- tutorial loop: sequential post_to_connection
        mgmt = stack.management_client(https=True)
        mgmt.post_to_connection(ConnectionId=owners["sender"], Data=b"warm-up")
        cids = list(members.values())
        tutorial_runs: list[dict[str, Any]] = []
        for k in range(tutorial_repeats):
            key = f"{run_id}t{k}"
            data = _event(key, room, 1000 + k).encode()
            cpu0 = cpu_by_component(stack.pid)
            loop_cpu0 = time.process_time()
            begun = time.monotonic_ns()
            posted = 0
            stop_at = time.monotonic() + tutorial_limit
            for cid in cids:
                mgmt.post_to_connection(ConnectionId=cid, Data=data)
                posted += 1
                if time.monotonic() > stop_at:
                    break
            loop_ms = (time.monotonic_ns() - begun) / 1e6
            r = _wait(pool, "r", key, begun, 30 if posted == len(cids) else 5)
            r["cpu_seconds"] = cpu_delta(cpu0, cpu_by_component(stack.pid))
            r["cpu_seconds"]["loop"] = round(time.process_time() - loop_cpu0, 2)
            r["posted"] = posted
            r["loop_ms"] = loop_ms
            r["complete"] = posted == len(cids)
            tutorial_runs.append(r)
            log(f"  loop   #{k}: last {r['last_ms']:.0f} ms for {posted} posts")
            if posted < len(cids):
                break
        out["tutorial"] = {"runs": tutorial_runs, **_summary(tutorial_runs)}
        dups = pool.all("dups", "r", timeout=30)
        out["duplicates"] = sum(dups)
        out["stack_after_runs"] = stack.tree_rss()
        out["loadavg_after"] = os.getloadavg()

        # ---- teardown: empty the room first so the disconnects post no presence to it
        _delete_memberships(stack, conn_table, room, cids)
    finally:
        try:
            pool.all("abort", "r", timeout=60)
            pool.all("abort", "f", timeout=60)
        except Exception:  # noqa: BLE001 (teardown goes on)
            pass
        out["stack_stop"] = stack.stop()
        pool.close()
        floor.close()
        if moto_proc is not None:
            moto_proc.terminate()
            moto_proc.wait(20)
    return out


_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) (\w+)\s+\[[^\]]*\] (.*)$")


def _phases(log_path: Path, sent_walls: list[float]) -> list[dict[str, Any]]:
    """Per message, from the stack log (wall clock, ms after the send): when the chat function
    had stored it, when the broadcast function had handled the stream record, and when each
    fan-out chunk had been posted. The log has millisecond times and local time of day."""
    events: list[tuple[float, str]] = []
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        h, mi, s_, ms, source, rest = m.groups()
        tod = int(h) * 3600 + int(mi) * 60 + int(s_) + int(ms) / 1000
        if source == "ChatFunction" and "MessagesStored" in rest:
            events.append((tod, "stored"))
        elif source == "BroadcastFunction" and "INFO broadcast" in rest:
            events.append((tod, "broadcast"))
        elif source == "FanoutFunction" and "chunk posted" in rest:
            events.append((tod, "chunk"))
    out: list[dict[str, Any]] = []
    for i, wall in enumerate(sent_walls):
        lt = time.localtime(wall)
        start = lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (wall % 1)
        end = start + 10_000
        if i + 1 < len(sent_walls):
            nxt = time.localtime(sent_walls[i + 1])
            end = nxt.tm_hour * 3600 + nxt.tm_min * 60 + nxt.tm_sec + (sent_walls[i + 1] % 1)
        mine = [(t, k) for t, k in events if start - 0.002 <= t < end]

        def first(kind: str, mine: list[tuple[float, str]] = mine, start: float = start) -> Any:
            found = [t for t, k in mine if k == kind]
            return round((found[0] - start) * 1000) if found else None

        out.append(
            {
                "stored_ms": first("stored"),
                "broadcast_done_ms": first("broadcast"),
                "chunks_done_ms": [round((t - start) * 1000) for t, k in mine if k == "chunk"],
            }
        )
    return out


def _join_metrics(log_path: Path) -> dict[str, float]:
    """Presence posts the chat function made (``Deliveries``) and skipped (``PresenceSkipped``,
    rooms over ``PRESENCE_ROOM_LIMIT``), from its metric lines in the stack log."""
    delivered = 0.0
    skipped = 0.0
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        if "ChatFunction" not in line:
            continue
        m = re.search(r'"Deliveries":\[([0-9.]+)', line)
        if m:
            delivered += float(m.group(1))
        m = re.search(r'"PresenceSkipped":\[([0-9.]+)', line)
        if m:
            skipped += float(m.group(1))
    return {"presence_posts": delivered, "presence_skipped": skipped}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "last_ms": spread(r["last_ms"] for r in runs),
        "p50_ms": spread(r["p50_ms"] for r in runs),
        "p99_ms": spread(r["p99_ms"] for r in runs),
        "first_ms": spread(r["first_ms"] for r in runs),
        "missing_total": sum(r["missing"] for r in runs),
    }
