"""The EMF metrics the functions print, as CloudWatch would read them from the logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.chat import ChatHarness, User

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")


def emf_blobs(output: str) -> list[dict[str, Any]]:
    blobs = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def total(blobs: list[dict[str, Any]], name: str, **dimensions: str) -> float:
    value = 0.0
    for blob in blobs:
        if name in blob and all(blob.get(k) == v for k, v in dimensions.items()):
            raw = blob[name]
            value += sum(raw) if isinstance(raw, list) else raw
    return value


def test_messages_deliveries_gone_and_rejected_frames_are_counted(
    chat: ChatHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    for cid, user in (("c-alice", ALICE), ("c-bob", BOB), ("c-stale", BOB)):
        chat.connect(cid, user)
        chat.reply(cid, {"action": "join", "room": "lobby"})
    chat.api.gone.add("c-stale")
    capsys.readouterr()
    chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "hi"})
    chat.reply("c-alice", {"action": "send", "room": "nowhere", "text": "hi"})
    chat.reply("c-alice", {"action": "nope"})
    chat.pump()
    blobs = emf_blobs(capsys.readouterr().out)
    namespaces = {m["Namespace"] for b in blobs for m in b["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {"ServerlessChat"}
    assert total(blobs, "MessagesStored") == 1
    assert total(blobs, "Deliveries") == 2
    assert total(blobs, "GoneConnections") == 1
    assert total(blobs, "RejectedFrames", code="not_member") == 1
    assert total(blobs, "RejectedFrames", code="unknown_action") == 1
