from __future__ import annotations

import json

import pytest

from chatcore.notify import InvalidNotification, Notification, parse_notification


def test_full_message_parses() -> None:
    message = json.dumps(
        {
            "targets": {"users": ["alice", "bob", "alice"], "rooms": ["lobby"], "all": False},
            "payload": {"title": "Deploy done"},
            "id": "n-1",
        }
    )
    assert parse_notification(message) == Notification(
        id="n-1", payload={"title": "Deploy done"}, users=("alice", "bob"), rooms=("lobby",)
    )


def test_everyone_and_a_generated_id() -> None:
    parsed = parse_notification(json.dumps({"targets": {"all": True}, "payload": "hi"}))
    assert parsed.everyone and parsed.payload == "hi" and parsed.id


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        (json.dumps({"payload": {}}), "targets"),
        (json.dumps({"targets": [], "payload": {}}), "targets"),
        (json.dumps({"targets": {}, "payload": {}}), "no target"),
        (json.dumps({"targets": {"users": []}, "payload": {}}), "no target"),
        (json.dumps({"targets": {"users": "alice"}, "payload": {}}), "must be a list"),
        (json.dumps({"targets": {"users": ["a:b"]}, "payload": {}}), "user id"),
        (json.dumps({"targets": {"rooms": ["bad room"]}, "payload": {}}), "room"),
        (json.dumps({"targets": {"all": "yes"}, "payload": {}}), "true or false"),
        (json.dumps({"targets": {"all": True}}), "payload"),
        (json.dumps({"targets": {"all": True}, "payload": None}), "payload"),
        (json.dumps({"targets": {"all": True}, "payload": 1, "id": 5}), "'id'"),
        (json.dumps({"targets": {"all": True}, "payload": "x" * 140_000}), "bytes"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(message: str, reason: str) -> None:
    with pytest.raises(InvalidNotification, match=reason):
        parse_notification(message)


def test_the_reason_never_quotes_the_payload() -> None:
    secret = "do-not-log-me"
    with pytest.raises(InvalidNotification) as info:
        parse_notification(json.dumps({"targets": {"users": [secret + ":x"]}, "payload": secret}))
    assert secret not in str(info.value)
