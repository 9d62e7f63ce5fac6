"""Which tables a DynamoDB write wakes, and the write numbering the stream pollers wait on."""

from __future__ import annotations

import json
import threading

from local.moto_http import RequestCounter, _tables_of


def test_a_write_names_its_tables_wherever_the_request_puts_them() -> None:
    assert _tables_of(json.dumps({"TableName": "Messages"}).encode()) == ["Messages"]
    assert _tables_of(json.dumps({"RequestItems": {"A": [], "B": []}}).encode()) == ["A", "B"]
    transact = {
        "TransactItems": [
            {"Put": {"TableName": "Messages"}},
            {"ConditionCheck": {"TableName": "Connections"}},
        ]
    }
    assert _tables_of(json.dumps(transact).encode()) == ["Connections", "Messages"]
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Messages"
    assert _tables_of(json.dumps({"TableName": arn}).encode()) == ["Messages"]


def test_an_unreadable_body_names_no_table() -> None:
    assert _tables_of(None) == []
    assert _tables_of(b"not json") == []
    assert _tables_of(b"[1, 2]") == []


def _write(counter: RequestCounter, body: dict[str, object]) -> None:
    app = counter.wrap(lambda environ, start_response: [b"{}"])
    app(
        {
            "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
            "local.body": json.dumps(body).encode(),
        },
        lambda *a: None,
    )


def test_a_waiter_wakes_for_its_table_only() -> None:
    counter = RequestCounter()
    start = counter.generation("Messages")
    _write(counter, {"TableName": "Connections"})
    # Another table's write: the wait runs out and the generation has not moved.
    assert counter.wait_for_write("Messages", start, 0.05) == start
    woke: list[int] = []
    waiter = threading.Thread(
        target=lambda: woke.append(counter.wait_for_write("Messages", start, 30))
    )
    waiter.start()
    _write(counter, {"TableName": "Messages"})
    waiter.join(10)
    assert woke == [start + 1]


def test_a_write_without_a_readable_body_wakes_every_table() -> None:
    counter = RequestCounter()
    app = counter.wrap(lambda environ, start_response: [b"{}"])
    app({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.ExecuteStatement"}, lambda *a: None)
    assert counter.generation("Messages") == 1
    assert counter.generation("Connections") == 1
    assert counter.snapshot() == {"DynamoDB_20120810.ExecuteStatement": 1}
