"""client.events: the events of edits, reactions, read markers, moderation and sessions."""

from __future__ import annotations

from client.events import (
    Banned,
    Joined,
    Message,
    MessageDeleted,
    MessageUpdated,
    Moderated,
    Reaction,
    ReauthRequired,
    RoomInfo,
    RoomList,
    UnknownEvent,
    parse_event,
)


def test_history_items_carry_edits_tombstones_and_reactions() -> None:
    edited = parse_event(
        {
            "type": "message",
            "id": "3-a",
            "room": "r",
            "seq": 3,
            "from": "u",
            "text": "t",
            "version": 2,
            "reactions": {"👍": 2, "🎉": 0},
        }
    )
    assert isinstance(edited, Message)
    assert (edited.version, edited.deleted, edited.reaction_counts) == (2, False, {"👍": 2})
    tomb = parse_event({"type": "message", "id": "4-b", "room": "r", "seq": 4, "deleted": True})
    assert isinstance(tomb, Message) and tomb.deleted and tomb.text == ""


def test_change_events_parse_into_their_types() -> None:
    updated = parse_event(
        {"type": "message_updated", "room": "r", "id": "1-a", "seq": 1, "text": "x", "version": 1}
    )
    assert isinstance(updated, MessageUpdated) and (updated.text, updated.version) == ("x", 1)
    deleted = parse_event({"type": "message_deleted", "room": "r", "id": "1-a", "seq": 1})
    assert isinstance(deleted, MessageDeleted) and deleted.seq == 1
    reaction = parse_event(
        {"type": "reaction", "room": "r", "id": "1-a", "seq": 1, "emoji": "👍", "user": "b",
         "count": 2, "op": "add"}
    )  # fmt: skip
    assert isinstance(reaction, Reaction) and (reaction.count, reaction.user) == (2, "b")


def test_room_lists_moderation_and_sessions() -> None:
    listed = parse_event(
        {"type": "rooms", "rooms": [{"room": "a", "seq": 5, "read": 2, "unread": 3}, "junk"]}
    )
    assert isinstance(listed, RoomList) and listed.rooms == (RoomInfo("a", 5, 2, 3),)
    joined = parse_event({"type": "joined", "room": "a", "seq": 5, "unread": 3})
    assert isinstance(joined, Joined) and joined.unread == 3
    assert parse_event({"type": "joined", "room": "a", "seq": 5}).unread == 0  # type: ignore[attr-defined]
    ban = parse_event({"type": "banned", "room": "a", "by": "mod"})
    assert isinstance(ban, Banned) and ban.until is None
    done = parse_event({"type": "moderated", "room": "a", "user": "b", "op": "ban", "until": 9})
    assert isinstance(done, Moderated) and done.until == 9
    assert isinstance(parse_event({"type": "reauth_required", "exp": 7}), ReauthRequired)
    assert isinstance(parse_event({"type": "something_new"}), UnknownEvent)
