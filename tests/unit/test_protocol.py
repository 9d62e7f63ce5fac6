from __future__ import annotations

import json

import pytest

from chatcore.errors import CODES, ChatError
from chatcore.protocol import (
    Dm,
    History,
    Join,
    Leave,
    Limits,
    Ping,
    Send,
    Typing,
    Who,
    ack_event,
    encode,
    error_event,
    history_event,
    joined_event,
    left_event,
    message_event,
    notification_event,
    parse_frame,
    pong_event,
    presence_change_event,
    presence_list_event,
    typing_event,
)

LIMITS = Limits(max_text_length=10, max_room_length=16, history_page_limit=50)


def frame(**fields: object) -> str:
    return json.dumps(fields)


def error_of(body: str | bytes | None, limits: Limits = LIMITS) -> ChatError:
    with pytest.raises(ChatError) as info:
        parse_frame(body, limits=limits)
    return info.value


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (frame(action="join", room="lobby"), Join(room="lobby")),
        (frame(action="join", room="private:ops", ref="r"), Join(room="private:ops", ref="r")),
        (frame(action="leave", room="lobby", ref="r2"), Leave(room="lobby", ref="r2")),
        (frame(action="send", room="lobby", text="hi"), Send(room="lobby", text="hi")),
        (frame(action="dm", to="bob", text="yo", ref="x"), Dm(to="bob", text="yo", ref="x")),
        (frame(action="history", room="lobby"), History(room="lobby", limit=50)),
        (
            frame(action="history", room="lobby", after=3, before=9, limit=5),
            History(room="lobby", after=3, before=9, limit=5),
        ),
        (frame(action="history", room="dm:a:b"), History(room="dm:a:b", limit=50)),
        (frame(action="typing", room="lobby"), Typing(room="lobby")),
        (frame(action="who", room="lobby", ref="w"), Who(room="lobby", ref="w")),
        (frame(action="ping"), Ping()),
        (frame(action="ping", ref="p1"), Ping(ref="p1")),
    ],
)
def test_every_action_parses_into_its_frame(body: str, expected: object) -> None:
    assert parse_frame(body, limits=LIMITS) == expected


def test_body_from_field_is_ignored_so_clients_cannot_spoof_the_sender() -> None:
    parsed = parse_frame(frame(action="send", room="a", text="t", **{"from": "mallory"}))
    assert parsed == Send(room="a", text="t")


def test_text_at_the_limit_is_accepted_and_one_more_is_too_large() -> None:
    assert parse_frame(frame(action="send", room="a", text="x" * 10), limits=LIMITS)
    error = error_of(frame(action="send", room="a", text="x" * 11, ref="big"))
    assert (error.code, error.ref) == ("too_large", "big")
    assert error_of(frame(action="dm", to="bob", text="x" * 11)).code == "too_large"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "bad_request"),
        ("", "bad_request"),
        ("not json", "bad_request"),
        (b"\xff\xfe", "bad_request"),
        ("[1, 2]", "bad_request"),
        ('"send"', "bad_request"),
        (frame(room="lobby"), "bad_request"),
        (frame(action=""), "bad_request"),
        (frame(action=7), "bad_request"),
        (frame(action="shout", room="lobby"), "unknown_action"),
        (frame(action="join"), "bad_request"),
        (frame(action="join", room=""), "bad_request"),
        (frame(action="join", room=5), "bad_request"),
        (frame(action="join", room="has space"), "bad_request"),
        (frame(action="join", room="-leading"), "bad_request"),
        (frame(action="join", room="other:prefix"), "bad_request"),
        (frame(action="join", room="a" * 17), "bad_request"),
        (frame(action="leave"), "bad_request"),
        (frame(action="send", room="lobby"), "bad_request"),
        (frame(action="send", room="lobby", text=""), "bad_request"),
        (frame(action="send", room="lobby", text="   "), "bad_request"),
        (frame(action="send", room="lobby", text=["x"]), "bad_request"),
        (frame(action="dm", text="hi"), "bad_request"),
        (frame(action="dm", to="bad:user", text="hi"), "bad_request"),
        (frame(action="dm", to="bob"), "bad_request"),
        (frame(action="history", room="lobby", after=-1), "bad_request"),
        (frame(action="history", room="lobby", after="3"), "bad_request"),
        (frame(action="history", room="lobby", before=True), "bad_request"),
        (frame(action="history", room="lobby", after=5, before=5), "bad_request"),
        (frame(action="history", room="lobby", limit=0), "bad_request"),
        (frame(action="history", room="lobby", limit=51), "bad_request"),
        (frame(action="history", room="lobby", limit=2.5), "bad_request"),
        (frame(action="typing"), "bad_request"),
        (frame(action="who", room="bad room"), "bad_request"),
        (frame(action="ping", ref=""), "bad_request"),
        (frame(action="ping", ref=5), "bad_request"),
        (frame(action="ping", ref="r" * 65), "bad_request"),
    ],
)
def test_invalid_frames_raise_their_stable_code(body: str | bytes | None, code: str) -> None:
    error = error_of(body)
    assert error.code == code
    assert error.code in CODES
    assert error.message


def test_error_carries_the_clients_ref_when_it_sent_a_valid_one() -> None:
    assert error_of(frame(action="join", room="bad room", ref="j1")).ref == "j1"
    assert error_of(frame(action="nope", ref="u1")).ref == "u1"
    assert error_of(frame(action="ping", ref=5)).ref is None


def test_unknown_action_message_names_the_actions_but_not_a_long_input() -> None:
    error = error_of(frame(action="x" * 500))
    assert error.code == "unknown_action"
    assert "x" * 33 not in error.message
    assert "join" in error.message


def test_default_limits_allow_4000_characters_and_64_character_rooms() -> None:
    assert parse_frame(frame(action="send", room="r" * 64, text="x" * 4000))
    assert error_of(frame(action="send", room="r", text="x" * 4001), Limits()).code == "too_large"
    assert error_of(frame(action="join", room="r" * 65), Limits()).code == "bad_request"


def test_server_events_have_exactly_the_documented_shapes() -> None:
    message = message_event(id="m", room="r", seq=3, from_="u", name="U", text="t", ts=9)
    assert message == {
        "type": "message",
        "id": "m",
        "room": "r",
        "seq": 3,
        "from": "u",
        "name": "U",
        "text": "t",
        "ts": 9,
    }
    assert ack_event(ref="c", id="m", room="r", seq=3) == {
        "type": "ack",
        "ref": "c",
        "id": "m",
        "room": "r",
        "seq": 3,
    }
    assert ack_event(ref=None, id="m", room="r", seq=3) == {
        "type": "ack",
        "id": "m",
        "room": "r",
        "seq": 3,
    }
    assert joined_event(room="r", seq=0, ref="j") == {
        "type": "joined",
        "room": "r",
        "seq": 0,
        "ref": "j",
    }
    assert left_event(room="r") == {"type": "left", "room": "r"}
    assert history_event(room="r", messages=[message], ref="h") == {
        "type": "history",
        "room": "r",
        "messages": [message],
        "ref": "h",
    }
    assert presence_change_event(room="r", event="join", user_id="u", name="U") == {
        "type": "presence",
        "room": "r",
        "event": "join",
        "user": {"id": "u", "name": "U"},
    }
    assert presence_list_event(room="r", users=[{"id": "u", "name": "U"}]) == {
        "type": "presence",
        "room": "r",
        "users": [{"id": "u", "name": "U"}],
    }
    assert typing_event(room="r", from_="u", name="U") == {
        "type": "typing",
        "room": "r",
        "from": "u",
        "name": "U",
    }
    assert notification_event(id="n", payload={"a": 1}, ts=5) == {
        "type": "notification",
        "id": "n",
        "payload": {"a": 1},
        "ts": 5,
    }
    assert pong_event(ref="p") == {"type": "pong", "ref": "p"}
    assert error_event(code="not_member", message="m") == {
        "type": "error",
        "code": "not_member",
        "message": "m",
    }
    with pytest.raises(ValueError):
        presence_change_event(room="r", event="wave", user_id="u", name="U")


def test_encode_is_compact_utf8_json() -> None:
    data = encode(pong_event(ref="é"))
    assert data == '{"type":"pong","ref":"é"}'.encode()
