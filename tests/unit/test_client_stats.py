"""Load-test statistics and the event parser."""

from __future__ import annotations

import json
from pathlib import Path

from client.chat import with_token
from client.events import History, Message, Presence, UnknownEvent, parse_event
from client.loadtest import LoadConfig, LoadResult, percentiles
from client.report import write_json, write_plot


def test_percentiles_of_a_known_distribution() -> None:
    p = percentiles([float(v) for v in range(1, 101)])
    assert p is not None
    assert (p.count, p.max) == (100, 100.0)
    assert round(p.p50, 2) == 50.5
    assert round(p.p95, 2) == 95.05
    assert round(p.p99, 2) == 99.01


def test_percentiles_of_tiny_samples() -> None:
    assert percentiles([]) is None
    one = percentiles([7.0])
    assert one is not None and one.p50 == one.p99 == one.max == 7.0


def test_timeline_buckets_sends_and_deliveries_per_second() -> None:
    result = LoadResult(LoadConfig(url="ws://x"))
    result.sent_at = [0.1, 0.9, 1.5]
    result.delivered_at = [0.2, 1.1, 1.2, 2.7]
    assert result.timeline() == [
        {"second": 0, "sent": 2, "delivered": 1},
        {"second": 1, "sent": 1, "delivered": 2},
        {"second": 2, "sent": 0, "delivered": 1},
    ]


def test_json_and_plot_reports_are_written(tmp_path: Path) -> None:
    result = LoadResult(LoadConfig(url="ws://x"))
    result.latency_ms = [1.0, 2.0, 3.0, 50.0]
    result.connect_ms = [4.0, 5.0]
    result.sent_at = [0.1, 0.5]
    result.delivered_at = [0.2, 0.6, 1.1]
    result.acked = result.sent = 2
    result.errors["send:rate_limited"] = 1
    write_json(result, str(tmp_path / "r.json"))
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["messages"]["acked"] == 2
    assert data["errors"] == {"send:rate_limited": 1}
    assert data["latency_ms"]["max"] == 50.0
    write_plot(result, str(tmp_path / "r.png"))
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


def test_parse_event_types() -> None:
    message = parse_event(
        {
            "type": "message",
            "id": "i",
            "room": "r",
            "seq": 3,
            "from": "u",
            "name": "U",
            "text": "hi",
            "ts": 5,
        }
    )
    assert isinstance(message, Message) and (message.sender, message.seq) == ("u", 3)
    history = parse_event({"type": "history", "room": "r", "messages": [message.raw], "ref": "x"})
    assert isinstance(history, History) and history.messages == (message,) and history.ref == "x"
    who = parse_event({"type": "presence", "room": "r", "users": [{"id": "a", "name": "A"}]})
    assert isinstance(who, Presence) and who.users is not None and who.users[0].name == "A"
    change = parse_event(
        {"type": "presence", "room": "r", "event": "join", "user": {"id": "a", "name": "A"}}
    )
    assert isinstance(change, Presence) and change.users is None and change.event == "join"
    assert isinstance(parse_event({"type": "v2-thing"}), UnknownEvent)


def test_token_goes_in_the_query_string() -> None:
    assert with_token("ws://h:1/dev", "a.b.c") == "ws://h:1/dev?token=a.b.c"
    assert with_token("wss://h/dev?x=1&token=old", "new") == "wss://h/dev?x=1&token=new"
