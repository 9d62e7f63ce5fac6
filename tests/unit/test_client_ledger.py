"""The load tester's books, fed synthetic events: lost vs undelivered vs late vs missed."""

from __future__ import annotations

from client.ledger import Accounting, Ledger


def two_rooms() -> Ledger:
    """Members 0 and 1 in room a, member 2 in room b; messages a1, a2 (room a) and b1 acked."""
    ledger = Ledger()
    for member, room in ((0, "a"), (1, "a"), (2, "b")):
        ledger.member(member, room)
    for message, room in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        ledger.acked(message, room)
    return ledger


def test_everything_stored_and_delivered_in_time() -> None:
    ledger = two_rooms()
    for member, message in ((0, "a1"), (1, "a1"), (0, "a2"), (1, "a2"), (2, "b1")):
        assert ledger.received(member, message, at=1.0)
    ledger.drain_ended(at=2.0)
    ledger.stored("a", ["a1", "a2"])
    ledger.stored("b", ["b1"])
    assert ledger.account() == Accounting(expected=5, delivered=5)


def test_an_acked_message_missing_from_history_is_lost_not_undelivered() -> None:
    ledger = two_rooms()
    for member, message in ((0, "a1"), (1, "a1"), (2, "b1")):
        ledger.received(member, message, at=1.0)
    ledger.drain_ended(at=2.0)
    ledger.stored("a", ["a1"])  # a2 was acked and never stored
    ledger.stored("b", ["b1"])
    books = ledger.account()
    assert (books.lost, books.undelivered, books.delivered, books.expected) == (1, 0, 3, 5)


def test_stored_but_never_pushed_to_a_connected_member_is_undelivered() -> None:
    ledger = two_rooms()
    for member, message in ((0, "a1"), (1, "a1"), (0, "a2"), (2, "b1")):
        ledger.received(member, message, at=1.0)
    ledger.drain_ended(at=2.0)
    ledger.stored("a", ["a1", "a2"])
    ledger.stored("b", ["b1"])
    books = ledger.account()
    assert (books.lost, books.undelivered, books.missed, books.delivered) == (0, 1, 0, 4)


def test_a_delivery_after_the_drain_window_is_late_not_undelivered() -> None:
    ledger = two_rooms()
    for member, message in ((0, "a1"), (1, "a1"), (0, "a2"), (2, "b1")):
        ledger.received(member, message, at=1.0)
    ledger.drain_ended(at=2.0)
    ledger.stored("a", ["a1", "a2"])
    ledger.stored("b", ["b1"])
    ledger.watch()
    assert ledger.outstanding() == 1  # member 1 still waits for a2
    ledger.received(1, "a2", at=3.5)
    assert ledger.outstanding() == 0
    books = ledger.account()
    assert (books.late, books.undelivered, books.delivered) == (1, 0, 4)


def test_a_lost_message_is_not_waited_for() -> None:
    ledger = two_rooms()
    ledger.drain_ended(at=2.0)
    ledger.stored("a", ["a1"])
    ledger.stored("b", ["b1"])
    ledger.watch()
    assert ledger.outstanding() == 3  # a1 twice and b1; never a2


def test_what_an_interrupted_member_never_got_is_missed_not_undelivered() -> None:
    ledger = two_rooms()
    for member, message in ((0, "a1"), (0, "a2"), (2, "b1")):
        ledger.received(member, message, at=1.0)
    ledger.interrupted(1)
    ledger.drain_ended(at=2.0)
    ledger.stored("a", ["a1", "a2"])
    ledger.stored("b", ["b1"])
    books = ledger.account()
    assert (books.missed, books.undelivered, books.delivered) == (2, 0, 3)


def test_an_unreadable_room_is_unverified_and_never_counted_as_zero_lost() -> None:
    ledger = two_rooms()
    ledger.received(2, "b1", at=1.0)
    ledger.drain_ended(at=2.0)
    ledger.stored("b", ["b1"])
    ledger.unreadable("a")
    books = ledger.account()
    assert (books.unverified, books.lost) == (2, 0)
    assert books.undelivered == 4  # nothing of room a arrived: still counted against the acks


def test_duplicates_and_stored_messages_without_an_ack() -> None:
    ledger = two_rooms()
    assert ledger.received(2, "b1", at=1.0)
    assert not ledger.received(2, "b1", at=1.1)
    ledger.received(2, "b2", at=1.2)  # its send timed out, yet it was stored and delivered
    ledger.drain_ended(at=2.0)
    ledger.stored("a", ["a1", "a2"])
    ledger.stored("b", ["b1", "b2"])
    books = ledger.account()
    assert (books.duplicates, books.stored_unacked, books.delivered) == (1, 1, 1)
    assert ledger.expected_count() == 5


def test_before_the_drain_ends_nothing_is_late() -> None:
    ledger = two_rooms()
    ledger.received(2, "b1", at=99.0)
    ledger.stored("b", ["b1"])
    ledger.stored("a", ["a1", "a2"])
    assert (ledger.account().late, ledger.account().delivered) == (0, 1)
