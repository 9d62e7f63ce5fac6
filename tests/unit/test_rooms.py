from __future__ import annotations

import pytest

from chatcore.errors import BadRequest, Forbidden
from chatcore.rooms import (
    check_readable,
    check_usable,
    dm_members,
    dm_room,
    validate_room,
    validate_user_id,
)


def test_dm_room_is_the_same_whoever_writes_first() -> None:
    assert dm_room("bob", "alice") == dm_room("alice", "bob") == "dm:alice:bob"
    assert dm_members("dm:alice:bob") == ("alice", "bob")


def test_private_room_needs_the_tokens_claim() -> None:
    check_usable("private:ops", private_rooms=("private:ops",))
    with pytest.raises(Forbidden):
        check_usable("private:ops", private_rooms=("private:dev",))
    check_usable("lobby", private_rooms=())


def test_dm_rooms_are_reserved_and_readable_only_by_their_two_users() -> None:
    with pytest.raises(Forbidden):
        check_usable("dm:alice:bob", private_rooms=())
    check_readable("dm:alice:bob", user_id="bob", private_rooms=())
    with pytest.raises(Forbidden):
        check_readable("dm:alice:bob", user_id="carol", private_rooms=())
    with pytest.raises(Forbidden):
        check_readable("private:x", user_id="carol", private_rooms=())


def test_room_and_user_validation() -> None:
    assert validate_room("a.b_c-1", max_length=64) == "a.b_c-1"
    assert validate_room("dm:a:b", max_length=64, allow_dm=True) == "dm:a:b"
    for bad in ("dm:a:b", "dm:a", "x:y", "", "ä"):
        with pytest.raises(BadRequest):
            validate_room(bad, max_length=64)
    assert validate_user_id("auth0|abc@x.y") == "auth0|abc@x.y"
    for bad in ("a:b", "", " a", 3):
        with pytest.raises(BadRequest):
            validate_user_id(bad)
