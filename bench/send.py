"""One sender, one small room, and the embedded AWS as the send path sees it.

One run of ``python -m local``:

1. **connects**: C WebSocket upgrades (authorizer + ``$connect`` each), 32 in flight, from one
   client process: connections per second and the upgrade latency.
2. **sequential sends**: a sender and one other member join five rooms through the protocol; the
   sender sends K messages one at a time to the rooms in turn (the per-room send rate limit),
   each after the previous ack and delivery. Ack latency
   (send -> ``ack``) and delivery latency (send -> the member's ``message``), p50 / p99.
3. **DynamoDB requests per send**, counted on the wire: the embedded AWS counts every request
   it answers by operation (``GET /_local/requests``, local/moto_http.py); the difference over
   the K sends, divided by K, is what one send costs the chat function and the broadcaster
   together (a 2-member room). Idle pollers (DynamoDB Streams ``GetRecords``) are counted apart.
4. **floor of a delivery**: 1,000 bare HTTP POSTs, one at a time, to a minimal server.
5. **members Query**: M membership items written into ConnectionsTable for one room, then the
   members Query the broadcaster makes (``pk = ROOM#room``, ``ProjectionExpression sk``, every
   page), issued with boto3 from outside the stack: p50 / p99 of R repetitions.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import websockets

from bench.common import RESULTS_DIR, cpu_by_component, cpu_delta, distribution
from bench.stack import StackProcess

# Polling the streams and queues costs requests whether or not anyone sends.
_POLLING = ("DynamoDBStreams", "AmazonSQS", "other")
# Rooms the sequential sends take turns over (see _sends).
_ROOMS = 5


def _counts(stack: StackProcess) -> Counter[str]:
    with urllib.request.urlopen(f"{stack.aws_endpoint}/_local/requests", timeout=10) as answer:
        return Counter(json.loads(answer.read())["requests"])


def _events(frame: str | bytes) -> list[dict[str, Any]]:
    """The events one frame carries: one ``message``, or a batch of them (``messages``)."""
    event = json.loads(frame)
    if event.get("type") == "messages":
        return [dict(m, type="message") for m in event.get("messages", [])]
    return [event]


async def _connect(url: str, token: str, timeout: float) -> Any:
    return await asyncio.wait_for(
        websockets.connect(f"{url}?token={token}", compression=None, open_timeout=timeout),
        timeout,
    )


async def _until(ws: Any, match: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no matching event in time")
        for event in _events(await asyncio.wait_for(ws.recv(), left)):
            if match(event):
                return event


async def _connects(stack: StackProcess, count: int, in_flight: int) -> dict[str, Any]:
    tokens = [stack.token(f"c{i}") for i in range(count)]
    gate = asyncio.Semaphore(in_flight)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    sockets: list[Any] = []

    async def one(token: str) -> None:
        async with gate:
            began = time.monotonic()
            try:
                sockets.append(await _connect(stack.ws_url, token, 30.0))
                latencies.append((time.monotonic() - began) * 1000)
            except Exception as exc:  # noqa: BLE001 (counted, reported)
                errors[type(exc).__name__] += 1

    began = time.monotonic()
    await asyncio.gather(*(one(t) for t in tokens))
    seconds = time.monotonic() - began
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "requested": count,
        "connected": len(latencies),
        "in_flight": in_flight,
        "seconds": round(seconds, 2),
        "per_second": round(len(latencies) / seconds, 1) if seconds else None,
        "latency_ms": distribution(latencies),
        "errors": dict(errors),
    }


async def _sends(stack: StackProcess, count: int, timeout: float) -> dict[str, Any]:
    # The chat function allows a sender SEND_RATE_PER_SECOND sends per room and second (20 in
    # template.yaml), and sequential sends now go faster than that: the sends take turns over
    # a few 2-member rooms, so each send is measured on its own and none is refused.
    tag = uuid.uuid4().hex[:8]
    rooms = [f"bench-{tag}-{i}" for i in range(_ROOMS)]
    sender = await _connect(stack.ws_url, stack.token("sender"), timeout)
    member = await _connect(stack.ws_url, stack.token("member"), timeout)
    try:
        for ws in (sender, member):
            for room in rooms:
                await ws.send(json.dumps({"action": "join", "room": room}))
                await _until(
                    ws, lambda e, r=room: e.get("type") == "joined" and e.get("room") == r, timeout
                )
        # One warm-up send: starts the stream consumer's worker, not part of the figures. Refs are
        # unique per run: the chat core answers a repeated ref with the first ack, sending nothing.
        warm_up = await _one_send(sender, member, rooms[0], f"{tag}-warm-up", timeout)
        idle_before = _counts(stack)
        await asyncio.sleep(2.0)
        idle = _counts(stack) - idle_before
        acks: list[float] = []
        deliveries: list[float] = []
        before = _counts(stack)
        began = time.monotonic()
        for i in range(count):
            room = rooms[i % len(rooms)]
            ack_ms, delivery_ms = await _one_send(sender, member, room, f"{tag}-s{i}", timeout)
            acks.append(ack_ms)
            deliveries.append(delivery_ms)
        seconds = time.monotonic() - began
        # The last send's broadcast may still be finishing its requests: let it.
        await asyncio.sleep(1.0)
        seconds_counted = time.monotonic() - began
        spent = _counts(stack) - before
    finally:
        await asyncio.gather(sender.close(), member.close(), return_exceptions=True)
    idle_per_second = {k: v / 2.0 for k, v in idle.items()}
    send_path = {k: v for k, v in spent.items() if not k.startswith(_POLLING) and v > 0}
    polling = {k: v for k, v in spent.items() if k.startswith(_POLLING)}
    return {
        "sends": count,
        "warm_up_ms": warm_up,
        "ack_ms": distribution(acks),
        "delivery_ms": distribution(deliveries),
        "sends_per_second": round(count / seconds, 1),
        "dynamodb_requests_per_send": round(sum(send_path.values()) / count, 2),
        "dynamodb_by_operation_per_send": {
            k.split(".", 1)[-1]: round(v / count, 2) for k, v in sorted(send_path.items())
        },
        "polling_requests_during_sends": polling,
        "polling_requests_idle_per_second": idle_per_second,
        "counted_seconds": round(seconds_counted, 1),
    }


async def _one_send(
    sender: Any, member: Any, room: str, ref: str, timeout: float
) -> tuple[float, float]:
    began = time.monotonic_ns()
    await sender.send(json.dumps({"action": "send", "room": room, "text": ref, "ref": ref}))
    ack = asyncio.create_task(
        _until(sender, lambda e: e.get("type") == "ack" and e.get("ref") == ref, timeout)
    )
    delivered = asyncio.create_task(
        _until(member, lambda e: e.get("type") == "message" and e.get("text") == ref, timeout)
    )
    acked_ns = 0
    delivered_ns = 0
    for done in asyncio.as_completed([ack, delivered]):
        event = await done
        now = time.monotonic_ns()
        if event.get("type") == "ack":
            acked_ns = now
        else:
            delivered_ns = now
    return (acked_ns - began) / 1e6, (delivered_ns - began) / 1e6


def _members_query(stack: StackProcess, members: int, repeats: int) -> dict[str, Any]:
    ddb = stack.client("dynamodb")
    table = stack.table("ConnectionsTable")
    room = f"ROOM#bench-{uuid.uuid4().hex[:8]}"
    expires = str(int(time.time()) + 3600)
    items = [
        {
            "PutRequest": {
                "Item": {
                    "pk": {"S": room},
                    "sk": {"S": f"CONN#{uuid.uuid4().hex[:16]}="},
                    "userId": {"S": f"u{i}"},
                    "name": {"S": f"u{i}"},
                    "joinedAt": {"N": str(int(time.time() * 1000))},
                    "expiresAt": {"N": expires},
                }
            }
        }
        for i in range(members)
    ]
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: items[start : start + 25]})

    def query() -> int:
        found = 0
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": room}},
            "ProjectionExpression": "sk",
        }
        while True:
            page = ddb.query(**kwargs)
            found += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    query()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        found = query()
        times.append((time.perf_counter() - began) * 1000)
    return {"members": members, "found": found, "repeats": repeats, "ms": distribution(times)}


def _http_post_floor(posts: int) -> dict[str, Any]:
    """Floor of one delivery: a bare HTTP POST (128-byte body) to a minimal server, one at a
    time over one kept-alive connection, both ends in this process."""
    import http.client
    import http.server
    import threading

    class Minimal(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Minimal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        body = b"x" * 128
        conn.request("POST", "/", body=body)
        conn.getresponse().read()
        began = time.perf_counter()
        for _ in range(posts):
            conn.request("POST", "/", body=body)
            conn.getresponse().read()
        seconds = time.perf_counter() - began
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
    return {
        "posts": posts,
        "seconds": round(seconds, 3),
        "ms_per_post": round(seconds * 1000 / posts, 3),
    }


def run_send(
    *,
    sends: int = 100,
    connects: int = 300,
    members: int = 1000,
    query_repeats: int = 20,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
    profile: bool = False,
) -> dict[str, Any]:
    log = RESULTS_DIR / "logs" / f"send-{int(time.time())}.log"
    with StackProcess(log_path=Path(log), extra_args=list(extra_args or [])) as stack:
        # Sends first, on a quiet stack: the connects' $disconnect handlers would otherwise
        # still be running (and counted) while the sends are measured.
        cpu_before = cpu_by_component(stack.pid)
        send = asyncio.run(_sends(stack, sends, timeout))
        cpu = cpu_delta(cpu_before, cpu_by_component(stack.pid))
        send["cpu_ms_per_send"] = {k: round(v * 1000 / sends, 1) for k, v in cpu.items() if v > 0}
        if profile:
            # py-spy over the whole tree during more sends of the same kind (not in the figures).
            from bench.profile import ProfileRecorder

            with ProfileRecorder(stack.pid, RESULTS_DIR / "profiles" / "send") as rec:
                asyncio.run(_sends(stack, sends, timeout))
            send["profile"] = rec.summary
        query = _members_query(stack, members, query_repeats)
        connect = asyncio.run(_connects(stack, connects, 32))
    return {
        "stack_args": list(extra_args or []),
        "http_post_floor": _http_post_floor(members),
        "connect": connect,
        "send": send,
        "members_query": query,
    }
