"""edit, delete, react, unreact on moto: rules, refusals, the stream to members, history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.chat import ChatHarness, User

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
MOD = User("mia", "Mia", roles=("moderator",))


@pytest.fixture
def lobby(chat: ChatHarness) -> ChatHarness:
    for cid, user in (("c-alice", ALICE), ("c-bob", BOB), ("c-mod", MOD)):
        chat.connect(cid, user)
        assert chat.reply(cid, {"action": "join", "room": "lobby"})["type"] == "joined"
    return chat


def send(chat: ChatHarness, cid: str, text: str, room: str = "lobby") -> dict[str, Any]:
    ack = chat.reply(cid, {"action": "send", "room": room, "text": text})
    assert ack["type"] == "ack", ack
    return ack


def history(chat: ChatHarness, cid: str = "c-bob") -> list[dict[str, Any]]:
    reply = chat.reply(cid, {"action": "history", "room": "lobby", "after": 0})
    assert reply["type"] == "history", reply
    messages: list[dict[str, Any]] = reply["messages"]
    return messages


def events_of(chat: ChatHarness, cid: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in chat.api.events(cid) if e["type"] == kind]


def test_the_author_edits_and_members_get_message_updated_and_history_the_new_text(
    lobby: ChatHarness,
) -> None:
    ack = send(lobby, "c-alice", "helo")
    lobby.pump()
    reply = lobby.reply(
        "c-alice", {"action": "edit", "room": "lobby", "id": ack["id"], "text": "hello", "ref": "e"}
    )
    assert reply == {"type": "edited", "room": "lobby", "id": ack["id"], "version": 1, "ref": "e"}
    assert lobby.pump() == {"batchItemFailures": []}
    (updated,) = events_of(lobby, "c-bob", "message_updated")
    assert updated["id"] == ack["id"] and updated["seq"] == ack["seq"] == 1
    assert (updated["text"], updated["version"]) == ("hello", 1)
    assert updated["edited_ts"] > 0
    # The stream carried the edit as a change, not as a second message.
    assert len(lobby.api.messages("c-bob")) == 1
    (entry,) = history(lobby)
    assert (entry["text"], entry["version"]) == ("hello", 1)
    second = lobby.reply(
        "c-alice", {"action": "edit", "room": "lobby", "id": ack["id"], "text": "hello!"}
    )
    assert second["version"] == 2


def test_editing_someone_elses_message_is_forbidden_and_changes_nothing(
    lobby: ChatHarness,
) -> None:
    ack = send(lobby, "c-alice", "mine")
    lobby.pump()
    reply = lobby.reply("c-bob", {"action": "edit", "room": "lobby", "id": ack["id"], "text": "x"})
    assert reply["type"] == "error" and reply["code"] == "forbidden"
    assert "author" in reply["message"]
    reply = lobby.reply("c-bob", {"action": "delete", "room": "lobby", "id": ack["id"]})
    assert reply["code"] == "forbidden"
    lobby.pump()
    assert events_of(lobby, "c-alice", "message_updated") == []
    (entry,) = history(lobby)
    assert entry["text"] == "mine" and "version" not in entry


def test_a_moderator_edits_and_deletes_anyones_message(lobby: ChatHarness) -> None:
    ack = send(lobby, "c-alice", "spam")
    edited = lobby.reply(
        "c-mod", {"action": "edit", "room": "lobby", "id": ack["id"], "text": "[removed]"}
    )
    assert edited["type"] == "edited"
    deleted = lobby.reply("c-mod", {"action": "delete", "room": "lobby", "id": ack["id"]})
    assert deleted == {"type": "deleted", "room": "lobby", "id": ack["id"]}


def test_the_room_owner_moderates_messages_too(chat: ChatHarness) -> None:
    chat.connect("c-bob", BOB)
    chat.connect("c-alice", ALICE)
    for cid in ("c-bob", "c-alice"):
        chat.reply(cid, {"action": "join", "room": "garden"})
    send(chat, "c-bob", "first: bob owns garden", room="garden")
    ack = send(chat, "c-alice", "hi", room="garden")
    reply = chat.reply("c-bob", {"action": "delete", "room": "garden", "id": ack["id"]})
    assert reply["type"] == "deleted"
    # Alice does not own the room: she may not delete Bob's message.
    first = chat.reply("c-alice", {"action": "history", "room": "garden", "after": 0})
    bobs = first["messages"][0]["id"]
    assert chat.reply("c-alice", {"action": "delete", "room": "garden", "id": bobs})["code"] == (
        "forbidden"
    )


def test_delete_leaves_a_tombstone_and_seq_stays_gapless(lobby: ChatHarness) -> None:
    acks = [send(lobby, "c-alice", f"m{i}") for i in range(3)]
    lobby.pump()
    lobby.reply("c-alice", {"action": "react", "room": "lobby", "id": acks[1]["id"], "emoji": "👍"})
    reply = lobby.reply("c-alice", {"action": "delete", "room": "lobby", "id": acks[1]["id"]})
    assert reply["type"] == "deleted"
    lobby.pump()
    (gone,) = events_of(lobby, "c-bob", "message_deleted")
    assert gone == {"type": "message_deleted", "room": "lobby", "id": acks[1]["id"], "seq": 2}
    entries = history(lobby)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[1] == {
        "type": "message",
        "id": acks[1]["id"],
        "room": "lobby",
        "seq": 2,
        "deleted": True,
    }
    # A tombstone cannot be edited, deleted again or reacted to.
    for frame in (
        {"action": "edit", "text": "back"},
        {"action": "delete"},
        {"action": "react", "emoji": "👍"},
    ):
        answer = lobby.reply("c-alice", {**frame, "room": "lobby", "id": acks[1]["id"]})
        assert answer["code"] == "not_found" and "deleted" in answer["message"]


@pytest.mark.parametrize("message_id", ["7-0123abcd", "1-not-this-one", "no-seq", "0-x"])
def test_changes_to_a_message_that_does_not_exist_are_not_found(
    lobby: ChatHarness, message_id: str
) -> None:
    send(lobby, "c-alice", "only one")
    for frame in (
        {"action": "edit", "text": "x"},
        {"action": "delete"},
        {"action": "react", "emoji": "👍"},
    ):
        answer = lobby.reply("c-alice", {**frame, "room": "lobby", "id": message_id})
        assert answer["type"] == "error" and answer["code"] == "not_found", answer


def test_reactions_count_once_per_user_per_emoji_and_show_in_history(
    lobby: ChatHarness,
) -> None:
    ack = send(lobby, "c-alice", "lunch?")
    lobby.pump()
    base = {"room": "lobby", "id": ack["id"]}
    for cid in ("c-alice", "c-bob", "c-bob"):  # bob twice: counted once
        reply = lobby.reply(cid, {"action": "react", **base, "emoji": "👍"})
        assert reply == {"type": "reacted", **base, "emoji": "👍", "op": "add"}
    lobby.reply("c-bob", {"action": "react", **base, "emoji": "🎉"})
    lobby.pump()
    counts = [
        (e["user"], e["emoji"], e["count"], e["op"]) for e in events_of(lobby, "c-mod", "reaction")
    ]
    assert counts == [("alice", "👍", 1, "add"), ("bob", "👍", 2, "add"), ("bob", "🎉", 1, "add")]
    assert history(lobby)[0]["reactions"] == {"👍": 2, "🎉": 1}
    lobby.reply("c-bob", {"action": "unreact", **base, "emoji": "👍"})
    lobby.reply("c-bob", {"action": "unreact", **base, "emoji": "👍"})  # nothing left to remove
    lobby.reply("c-bob", {"action": "unreact", **base, "emoji": "🎉"})
    lobby.pump()
    removed = [(e["emoji"], e["count"]) for e in events_of(lobby, "c-mod", "reaction")[3:]]
    assert removed == [("👍", 1), ("🎉", 0)]
    assert history(lobby)[0]["reactions"] == {"👍": 1}


def test_a_message_takes_a_bounded_set_of_distinct_emoji(lobby: ChatHarness) -> None:
    ack = send(lobby, "c-alice", "react to me")
    emoji = [chr(0x1F600 + i) for i in range(21)]
    for e in emoji[:20]:
        assert (
            lobby.reply("c-bob", {"action": "react", "room": "lobby", "id": ack["id"], "emoji": e})[
                "type"
            ]
            == "reacted"
        )
    over = lobby.reply(
        "c-bob", {"action": "react", "room": "lobby", "id": ack["id"], "emoji": emoji[20]}
    )
    assert over["code"] == "too_large" and "20" in over["message"]
    # One more of an emoji already there is still fine.
    again = lobby.reply(
        "c-alice", {"action": "react", "room": "lobby", "id": ack["id"], "emoji": emoji[0]}
    )
    assert again["type"] == "reacted"
    assert len(history(lobby)[0]["reactions"]) == 20


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ({"action": "edit", "room": "lobby", "id": "1-a"}, "'text'"),
        ({"action": "edit", "room": "lobby", "text": "x"}, "'id'"),
        ({"action": "react", "room": "lobby", "id": "1-a", "emoji": "abc"}, "emoji"),
        ({"action": "react", "room": "lobby", "id": "1-a", "emoji": "👍" * 17}, "emoji"),
        ({"action": "react", "room": "lobby", "id": "1-a"}, "emoji"),
    ],
)
def test_malformed_change_frames_are_bad_requests(
    lobby: ChatHarness, frame: dict[str, Any], fragment: str
) -> None:
    answer = lobby.reply("c-alice", frame)
    assert answer["code"] == "bad_request" and fragment in answer["message"]


def test_a_private_room_message_cannot_be_changed_by_an_outsider(chat: ChatHarness) -> None:
    insider = User("ivy", "Ivy", rooms=("private:ops",))
    chat.connect("c-ivy", insider)
    chat.connect("c-bob", BOB)
    chat.reply("c-ivy", {"action": "join", "room": "private:ops"})
    ack = send(chat, "c-ivy", "secret", room="private:ops")
    answer = chat.reply(
        "c-bob", {"action": "react", "room": "private:ops", "id": ack["id"], "emoji": "👀"}
    )
    assert answer["code"] == "forbidden"
