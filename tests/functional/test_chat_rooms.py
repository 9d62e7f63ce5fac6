"""join / leave / who / typing / ping / $default on moto, through the chat handler."""

from __future__ import annotations

import boto3
import pytest

from tests.support.chat import ChatHarness, User

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
CAROL = User("carol", "Carol", rooms=("private:ops",))


def membership(chat: ChatHarness, room: str, connection_id: str) -> dict[str, object] | None:
    item = boto3.client("dynamodb").get_item(
        TableName=chat.resources["ConnectionsTable"],
        Key={"pk": {"S": f"ROOM#{room}"}, "sk": {"S": f"CONN#{connection_id}"}},
    )
    return item.get("Item")


def test_join_replies_joined_with_latest_seq_and_tells_the_room(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    assert chat.reply("c-alice", {"action": "join", "room": "lobby", "ref": "j1"}) == {
        "type": "joined",
        "room": "lobby",
        "seq": 0,
        "unread": 0,
        "ref": "j1",
    }
    assert membership(chat, "lobby", "c-alice") is not None
    chat.reply("c-bob", {"action": "join", "room": "lobby"})
    assert chat.api.last("c-alice") == {
        "type": "presence",
        "room": "lobby",
        "event": "join",
        "user": {"id": "bob", "name": "Bob"},
    }
    # The joiner is not told about itself.
    assert chat.types("c-bob") == ["joined"]


def test_joined_reports_the_rooms_latest_seq(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    chat.reply("c-alice", {"action": "join", "room": "lobby"})
    for i in range(3):
        chat.reply("c-alice", {"action": "send", "room": "lobby", "text": f"m{i}"})
    assert chat.reply("c-bob", {"action": "join", "room": "lobby"})["seq"] == 3


def test_joining_twice_is_harmless_and_announced_once(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    chat.reply("c-alice", {"action": "join", "room": "lobby"})
    chat.reply("c-bob", {"action": "join", "room": "lobby"})
    assert chat.reply("c-bob", {"action": "join", "room": "lobby"})["type"] == "joined"
    assert chat.types("c-alice").count("presence") == 1


def test_leave_replies_left_and_tells_the_remaining_members(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    chat.reply("c-alice", {"action": "join", "room": "lobby"})
    chat.reply("c-bob", {"action": "join", "room": "lobby"})
    assert chat.reply("c-bob", {"action": "leave", "room": "lobby", "ref": "l"}) == {
        "type": "left",
        "room": "lobby",
        "ref": "l",
    }
    assert membership(chat, "lobby", "c-bob") is None
    assert chat.api.last("c-alice") == {
        "type": "presence",
        "room": "lobby",
        "event": "leave",
        "user": {"id": "bob", "name": "Bob"},
    }


def test_leave_a_room_not_joined_is_not_member(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    reply = chat.reply("c-alice", {"action": "leave", "room": "lobby", "ref": "x"})
    assert (reply["type"], reply["code"], reply["ref"]) == ("error", "not_member", "x")


def test_who_lists_each_user_once_sorted(chat: ChatHarness) -> None:
    chat.connect("c-bob", BOB)
    chat.connect("c-alice-1", ALICE)
    chat.connect("c-alice-2", ALICE)
    for cid in ("c-bob", "c-alice-1", "c-alice-2"):
        chat.reply(cid, {"action": "join", "room": "lobby"})
    assert chat.reply("c-bob", {"action": "who", "room": "lobby", "ref": "w"}) == {
        "type": "presence",
        "room": "lobby",
        "users": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
        "ref": "w",
    }
    assert chat.reply("c-bob", {"action": "who", "room": "empty"})["users"] == []


def test_private_room_needs_the_tokens_claim_and_stores_nothing_on_refusal(
    chat: ChatHarness,
) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-carol", CAROL)
    refused = chat.reply("c-alice", {"action": "join", "room": "private:ops", "ref": "p"})
    assert (refused["code"], refused["ref"]) == ("forbidden", "p")
    assert membership(chat, "private:ops", "c-alice") is None
    assert chat.reply("c-alice", {"action": "who", "room": "private:ops"})["code"] == "forbidden"
    assert chat.reply("c-carol", {"action": "join", "room": "private:ops"})["type"] == "joined"
    assert membership(chat, "private:ops", "c-carol") is not None


def test_dm_rooms_cannot_be_joined(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    assert chat.reply("c-alice", {"action": "join", "room": "dm:alice:bob"})["code"] == "forbidden"
    assert membership(chat, "dm:alice:bob", "c-alice") is None


def test_typing_reaches_the_other_members_only(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    chat.connect("c-carol", CAROL)
    chat.reply("c-alice", {"action": "join", "room": "lobby"})
    chat.reply("c-bob", {"action": "join", "room": "lobby"})
    assert chat.say("c-alice", {"action": "typing", "room": "lobby"}) == []
    assert chat.api.last("c-bob") == {
        "type": "typing",
        "room": "lobby",
        "from": "alice",
        "name": "Alice",
    }
    assert chat.api.events("c-carol") == []


def test_typing_in_a_room_not_joined_is_not_member(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    assert chat.reply("c-alice", {"action": "typing", "room": "lobby"})["code"] == "not_member"


def test_ping_answers_pong_with_the_ref(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    assert chat.reply("c-alice", {"action": "ping", "ref": "p1"}) == {"type": "pong", "ref": "p1"}
    assert chat.reply("c-alice", {"action": "ping"}) == {"type": "pong"}


def test_unknown_action_on_default_route(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    reply = chat.reply("c-alice", {"action": "shout", "room": "lobby", "ref": "s"})
    assert reply == {
        "type": "error",
        "code": "unknown_action",
        "message": reply["message"],
        "ref": "s",
    }
    assert "join" in reply["message"]


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", "", {"room": "lobby"}, {"action": "join", "room": "bad room"}],
)
def test_malformed_frames_are_bad_request(chat: ChatHarness, body: object) -> None:
    chat.connect("c-alice", ALICE)
    reply = chat.reply("c-alice", body)  # type: ignore[arg-type]
    assert (reply["type"], reply["code"]) == ("error", "bad_request")
    assert "Traceback" not in reply["message"]


def test_unexpected_failure_replies_internal_without_details(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    replies = chat.say(
        "c-alice", {"action": "join", "room": "lobby", "ref": "j"}, MESSAGES_TABLE="no-such-table"
    )
    assert len(replies) == 1
    reply = replies[0]
    assert (reply["type"], reply["code"], reply["ref"]) == ("error", "internal", "j")
    assert "no-such-table" not in reply["message"]


def test_the_reply_goes_to_the_endpoint_built_from_the_event(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    chat.reply("c-alice", {"action": "ping"})
    assert chat.api.endpoints[-1] == "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev"


def test_join_after_the_connection_item_was_swept_restores_a_whole_item(
    chat: ChatHarness,
) -> None:
    chat.connect("c-alice", ALICE)
    dynamodb = boto3.client("dynamodb")
    key = {"pk": {"S": "CONN#c-alice"}, "sk": {"S": "META"}}
    dynamodb.delete_item(TableName=chat.resources["ConnectionsTable"], Key=key)
    assert chat.reply("c-alice", {"action": "join", "room": "lobby"})["type"] == "joined"
    item = dynamodb.get_item(TableName=chat.resources["ConnectionsTable"], Key=key)["Item"]
    assert item["ownerId"] == {"S": "alice"}
    assert item["rooms"] == {"SS": ["lobby"]}
    assert int(item["expiresAt"]["N"]) > 0


def test_presence_and_typing_are_skipped_in_rooms_above_the_presence_limit(
    chat: ChatHarness,
) -> None:
    small = {"PRESENCE_ROOM_LIMIT": "2"}
    dave = User("dave", "Dave")
    for cid, user in (("c-alice", ALICE), ("c-bob", BOB), ("c-dave", dave)):
        chat.connect(cid, user)
    chat.say("c-alice", {"action": "join", "room": "lobby"}, **small)
    chat.say("c-bob", {"action": "join", "room": "lobby"}, **small)
    # Two members: within the limit, so Alice hears Bob arrive.
    assert chat.types("c-alice") == ["joined", "presence"]

    chat.say("c-dave", {"action": "join", "room": "lobby"}, **small)
    chat.say("c-dave", {"action": "typing", "room": "lobby"}, **small)
    # Three members: nobody is told about Dave's join or typing ...
    assert chat.types("c-alice") == ["joined", "presence"]
    assert chat.types("c-bob") == ["joined"]
    # ... but the room still lists him, and his messages still reach everyone.
    who = chat.reply("c-alice", {"action": "who", "room": "lobby"})
    assert [u["id"] for u in who["users"]] == ["alice", "bob", "dave"]
    chat.say("c-dave", {"action": "send", "room": "lobby", "text": "hi all"}, **small)
    chat.pump()
    assert chat.api.last("c-alice")["text"] == "hi all"
    assert chat.api.last("c-bob")["text"] == "hi all"
