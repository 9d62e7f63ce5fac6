"""read markers, unread, the room list, kick / ban / unban on moto."""

from __future__ import annotations

import time

import boto3
import pytest

from tests.support.chat import ChatHarness, User

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
CAROL = User("carol", "Carol")
MOD = User("mia", "Mia", roles=("moderator",))


@pytest.fixture
def lobby(chat: ChatHarness) -> ChatHarness:
    for cid, user in (("c-alice", ALICE), ("c-bob", BOB), ("c-mod", MOD)):
        chat.connect(cid, user)
        assert chat.reply(cid, {"action": "join", "room": "lobby"})["type"] == "joined"
    return chat


def send(chat: ChatHarness, cid: str, text: str, room: str = "lobby") -> dict[str, object]:
    ack = chat.reply(cid, {"action": "send", "room": room, "text": text})
    assert ack["type"] == "ack", ack
    return ack


# ---- read markers -----------------------------------------------------------------------


def test_read_moves_the_marker_tells_small_rooms_and_joined_carries_unread(
    lobby: ChatHarness,
) -> None:
    for i in range(5):
        send(lobby, "c-alice", f"m{i}")
    reply = lobby.reply("c-bob", {"action": "read", "room": "lobby", "seq": 3, "ref": "r"})
    assert reply == {"type": "read", "room": "lobby", "seq": 3, "ref": "r"}
    assert lobby.api.last("c-alice") == {
        "type": "receipt",
        "room": "lobby",
        "user": "bob",
        "seq": 3,
    }
    # Bob comes back on a new socket: two messages unread.
    lobby.disconnect("c-bob")
    lobby.connect("c-bob2", BOB)
    joined = lobby.reply("c-bob2", {"action": "join", "room": "lobby"})
    assert (joined["seq"], joined["unread"]) == (5, 2)
    # The marker never moves back.
    assert lobby.reply("c-bob2", {"action": "read", "room": "lobby", "seq": 1})["seq"] == 3


def test_a_newcomer_has_nothing_unread(lobby: ChatHarness) -> None:
    send(lobby, "c-alice", "before carol")
    lobby.connect("c-carol", CAROL)
    joined = lobby.reply("c-carol", {"action": "join", "room": "lobby"})
    assert (joined["seq"], joined["unread"]) == (1, 0)


def test_a_read_marker_beyond_the_latest_seq_is_refused(lobby: ChatHarness) -> None:
    send(lobby, "c-alice", "one")
    answer = lobby.reply("c-bob", {"action": "read", "room": "lobby", "seq": 2})
    assert answer["code"] == "bad_request" and "latest" in answer["message"]
    assert lobby.reply("c-bob", {"action": "rooms"})["rooms"][0]["read"] == 0


@pytest.mark.parametrize("seq", [-1, "3", True, None])
def test_a_read_without_a_seq_is_a_bad_request(lobby: ChatHarness, seq: object) -> None:
    assert lobby.reply("c-bob", {"action": "read", "room": "lobby", "seq": seq})["code"] == (
        "bad_request"
    )


def test_rooms_lists_unread_per_room(lobby: ChatHarness) -> None:
    lobby.reply("c-bob", {"action": "join", "room": "random"})
    lobby.reply("c-alice", {"action": "join", "room": "random"})
    for i in range(3):
        send(lobby, "c-alice", f"l{i}")
    send(lobby, "c-alice", "r0", room="random")
    lobby.reply("c-bob", {"action": "read", "room": "lobby", "seq": 1})
    reply = lobby.reply("c-bob", {"action": "rooms", "ref": "x"})
    assert reply == {
        "type": "rooms",
        "ref": "x",
        "rooms": [
            {"room": "lobby", "seq": 3, "read": 1, "unread": 2},
            {"room": "random", "seq": 1, "read": 0, "unread": 1},
        ],
    }


# ---- kick / ban -------------------------------------------------------------------------


def test_a_moderator_kicks_a_user_out_of_the_room(lobby: ChatHarness) -> None:
    reply = lobby.reply("c-mod", {"action": "kick", "room": "lobby", "user": "bob"})
    assert reply == {"type": "moderated", "room": "lobby", "user": "bob", "op": "kick"}
    assert {"type": "kicked", "room": "lobby", "by": "mia"} in lobby.api.events("c-bob")
    # The room hears of it as of a leave.
    leave = {"type": "presence", "room": "lobby", "event": "leave"}
    assert {**leave, "user": {"id": "bob", "name": "Bob"}} in lobby.api.events("c-alice")
    assert lobby.reply("c-bob", {"action": "send", "room": "lobby", "text": "x"})["code"] == (
        "not_member"
    )
    # A kick is not a ban: bob may come back.
    assert lobby.reply("c-bob", {"action": "join", "room": "lobby"})["type"] == "joined"


def test_a_ban_keeps_the_user_out_of_joins_and_sends_until_unbanned(lobby: ChatHarness) -> None:
    reply = lobby.reply("c-mod", {"action": "ban", "room": "lobby", "user": "bob"})
    assert reply["op"] == "ban" and "until" not in reply
    assert {"type": "banned", "room": "lobby", "by": "mia"} in lobby.api.events("c-bob")
    join = lobby.reply("c-bob", {"action": "join", "room": "lobby"})
    assert join["code"] == "forbidden" and "banned" in join["message"]
    # Sends without a membership check (the HTTP API) are refused by the ban read as well.
    answer = lobby.http(
        "POST /rooms/{room}/messages", BOB, path={"room": "lobby"}, body={"text": "x"}
    )
    assert answer.status == 403 and answer.body["code"] == "forbidden"
    assert lobby.reply("c-mod", {"action": "unban", "room": "lobby", "user": "bob"})["op"] == (
        "unban"
    )
    assert lobby.reply("c-bob", {"action": "join", "room": "lobby"})["type"] == "joined"
    send(lobby, "c-bob", "back")


def test_a_timed_ban_ends_by_itself(lobby: ChatHarness) -> None:
    reply = lobby.reply("c-mod", {"action": "ban", "room": "lobby", "user": "bob", "seconds": 60})
    assert reply["until"] >= int(time.time()) + 59
    item = boto3.client("dynamodb").get_item(
        TableName=lobby.resources["MessagesTable"],
        Key={"pk": {"S": "BAN#lobby#bob"}, "seq": {"N": "0"}},
    )["Item"]
    assert item["expiresAt"]["N"] == str(reply["until"])  # TTL removes it
    # As if the minute had passed (TTL may lag: the end is checked, not the item's presence).
    boto3.client("dynamodb").update_item(
        TableName=lobby.resources["MessagesTable"],
        Key={"pk": {"S": "BAN#lobby#bob"}, "seq": {"N": "0"}},
        UpdateExpression="SET #u = :past",
        ExpressionAttributeNames={"#u": "until"},
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert lobby.reply("c-bob", {"action": "join", "room": "lobby"})["type"] == "joined"
    send(lobby, "c-bob", "free again")


def test_only_moderators_and_the_owner_moderate(lobby: ChatHarness) -> None:
    send(lobby, "c-alice", "alice stored the first message: she owns lobby")
    for frame in (
        {"action": "kick", "room": "lobby", "user": "alice"},
        {"action": "ban", "room": "lobby", "user": "alice"},
        {"action": "unban", "room": "lobby", "user": "alice"},
    ):
        answer = lobby.reply("c-bob", frame)
        assert answer["code"] == "forbidden" and "moderator" in answer["message"]
    assert lobby.api.events("c-alice")[-1]["type"] != "kicked"
    assert lobby.reply("c-alice", {"action": "kick", "room": "lobby", "user": "bob"})["op"] == (
        "kick"
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"action": "kick", "room": "lobby", "user": "mia"}, "bad_request"),
        ({"action": "kick", "room": "lobby", "user": "nobody"}, "not_found"),
        ({"action": "unban", "room": "lobby", "user": "bob"}, "not_found"),
        ({"action": "ban", "room": "lobby", "user": "bob", "seconds": 0}, "bad_request"),
        ({"action": "ban", "room": "lobby"}, "bad_request"),
        ({"action": "ban", "room": "dm:bob:mia", "user": "bob"}, "bad_request"),
    ],
)
def test_moderation_refusals(lobby: ChatHarness, frame: dict[str, object], code: str) -> None:
    answer = lobby.reply("c-mod", frame)
    assert answer["type"] == "error" and answer["code"] == code, answer
