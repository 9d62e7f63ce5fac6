"""The pure parts of edits, reactions, read markers, moderation and token lifetime."""

from __future__ import annotations

import pytest

from chatcore.actions import Ban, Edit, React, Read, Reauth, validate_emoji
from chatcore.auth import Identity, identity_from_claims
from chatcore.changes import change_event, history_entry
from chatcore.edits import refusal
from chatcore.errors import BadRequest
from chatcore.items import message_id, seq_of_id
from chatcore.moderation import may_moderate
from chatcore.protocol import parse_frame
from chatcore.receipts import JoinState, unread
from chatcore.sending import Refuse, SendState, Store, decide
from chatcore.sessions import expiry_bucket, is_reauth, verdict

ITEM = {
    "pk": "ROOM#lobby",
    "seq": 4,
    "id": "4-abc",
    "room": "lobby",
    "from": "alice",
    "name": "Alice",
    "text": "hi",
    "ts": 1000,
    "kind": "message",
    "reactions": {},
}


def test_a_message_id_carries_its_seq_and_foreign_ids_carry_none() -> None:
    assert seq_of_id(message_id(42, "f00d")) == 42
    for foreign in ("3f2a-uuid", "abc", "-1", "01-x", "5-", "", "1e3-x"):
        assert seq_of_id(foreign) is None


def test_parse_action_frames() -> None:
    assert parse_frame('{"action":"edit","room":"lobby","id":"1-a","text":"t","ref":"r"}') == Edit(
        room="lobby", id="1-a", text="t", ref="r"
    )
    unreact = parse_frame('{"action":"unreact","room":"lobby","id":"1-a","emoji":"👍🏽"}')
    assert unreact == React(room="lobby", id="1-a", emoji="👍🏽", add=False)
    assert parse_frame('{"action":"read","room":"lobby","seq":3}') == Read(room="lobby", seq=3)
    assert parse_frame('{"action":"ban","room":"lobby","user":"bob","seconds":5}') == Ban(
        room="lobby", user="bob", seconds=5
    )
    reauth = parse_frame('{"action":"reauth","token":"secret.token.value"}')
    assert isinstance(reauth, Reauth) and "secret" not in repr(reauth)


@pytest.mark.parametrize("emoji", ["a", "1", " ", "👍 ", "\x00", "", "👍" * 17, 5])
def test_an_emoji_is_a_short_symbol(emoji: object) -> None:
    with pytest.raises(BadRequest):
        validate_emoji(emoji)


@pytest.mark.parametrize("emoji", ["👍", "❤️", "👨\u200d👩\u200d👧", "🇫🇷", "✅"])
def test_emoji_with_modifiers_joiners_and_flags_are_accepted(emoji: str) -> None:
    assert validate_emoji(emoji) == emoji


def test_refusal_names_the_rule_that_failed() -> None:
    args = {"room": "lobby", "message_id": "4-abc", "user_id": "bob"}
    assert refusal(None, **args) == "not_found"
    assert refusal({**ITEM, "id": "4-other"}, **args) == "not_found"
    assert refusal({**ITEM, "deleted": True}, **args) == "deleted"
    assert refusal(ITEM, **args) == "not_author"


def test_history_entry_shows_edits_reactions_and_tombstones() -> None:
    assert history_entry(ITEM) == {
        "type": "message",
        "id": "4-abc",
        "room": "lobby",
        "seq": 4,
        "from": "alice",
        "name": "Alice",
        "text": "hi",
        "ts": 1000,
    }
    edited = history_entry({**ITEM, "version": 2, "editedTs": 5, "reactions": {"👍": 2, "🎉": 0}})
    assert (edited["version"], edited["edited_ts"], edited["reactions"]) == (2, 5, {"👍": 2})
    tomb = history_entry({**ITEM, "deleted": True, "text": "leftover"})
    assert tomb == {"type": "message", "id": "4-abc", "room": "lobby", "seq": 4, "deleted": True}


def test_change_event_from_a_stream_image() -> None:
    assert change_event(ITEM) is None
    edit = {**ITEM, "text": "hey", "version": 1, "editedTs": 9, "change": {"op": "edit"}}
    assert change_event(edit) == {
        "type": "message_updated",
        "room": "lobby",
        "id": "4-abc",
        "seq": 4,
        "text": "hey",
        "version": 1,
        "edited_ts": 9,
    }
    react = {
        **ITEM,
        "reactions": {"👍": 3},
        "change": {"op": "react", "user": "bob", "emoji": "👍"},
    }
    event = change_event(react)
    assert event is not None and (event["count"], event["op"], event["user"]) == (3, "add", "bob")
    gone = change_event({**ITEM, "deleted": True, "change": {"op": "delete", "user": "alice"}})
    assert gone == {"type": "message_deleted", "room": "lobby", "id": "4-abc", "seq": 4}


def test_a_ban_refuses_a_send_until_it_ends() -> None:
    state = SendState(last=3, banned_until=0)
    assert decide(state, user_id="bob", now_second=100, per_second=5) == Refuse("forbidden")
    assert decide(SendState(banned_until=101), user_id="bob", now_second=100, per_second=5) == (
        Refuse("forbidden")
    )
    ended = decide(SendState(banned_until=100), user_id="bob", now_second=100, per_second=5)
    assert isinstance(ended, Store)


def test_unread_and_join_state() -> None:
    assert unread(10, 7) == 3
    assert unread(10, None) == 0
    assert unread(3, 5) == 0
    assert JoinState(last=1, owner=None, banned_until=0, read=None).banned(100)
    assert not JoinState(last=1, owner=None, banned_until=50, read=None).banned(100)


def test_moderators_are_the_role_or_the_owner() -> None:
    mod = Identity(user_id="mia", name="Mia", roles=("moderator",))
    bob = Identity(user_id="bob", name="Bob")
    assert may_moderate(mod, None) and may_moderate(bob, "bob")
    assert not may_moderate(bob, "alice") and not may_moderate(bob, None)


def test_session_verdicts() -> None:
    assert verdict(None, 1000) == "ok"
    assert verdict(2000, 1000, warn_seconds=120) == "ok"
    assert verdict(1100, 1000, warn_seconds=120) == "warn"
    assert verdict(1000, 1000) == "expired"
    assert expiry_bucket(125) == "EXP#2"
    assert is_reauth('{"action":"reauth","token":"x"}')
    assert not is_reauth('{"action":"ping"}') and not is_reauth("nope") and not is_reauth(None)


def test_identity_roles_and_exp_round_trip_through_the_socket_context() -> None:
    identity = Identity(user_id="mia", name="Mia", roles=("moderator",), exp=1234)
    again = Identity.from_context(identity.to_socket_context())
    assert again.roles == ("moderator",) and again.exp == 1234 and again.is_moderator
    assert "exp" not in identity.to_context()


def test_only_known_roles_are_taken_from_the_claims() -> None:
    claims = {"sub": "mia", "exp": 99, "roles": ["moderator", "admin"]}
    assert identity_from_claims(claims).roles == ("moderator",)
    assert identity_from_claims({**claims, "roles": "[moderator]"}).roles == ("moderator",)
    assert identity_from_claims({"sub": "bob"}).roles == ()
