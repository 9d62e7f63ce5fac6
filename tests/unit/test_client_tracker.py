"""Gap detection, ordering and de-duplication in the client's room tracker."""

from __future__ import annotations

from client.events import Message, Messages, parse_event
from client.tracker import Gap, RoomTracker


def msg(seq: int, room: str = "lobby", mid: str | None = None) -> Message:
    event = parse_event(
        {
            "type": "message",
            "id": mid or f"{room}-{seq}",
            "room": room,
            "seq": seq,
            "from": "alice",
            "name": "Alice",
            "text": f"t{seq}",
            "ts": 0,
        }
    )
    assert isinstance(event, Message)
    return event


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


def joined_at(seq: int) -> RoomTracker:
    tracker = RoomTracker()
    tracker.expect("lobby")
    tracker.joined("lobby", seq)
    return tracker


def test_in_order_messages_pass_straight_through() -> None:
    tracker = joined_at(4)
    for seq in (5, 6, 7):
        deliver, gap = tracker.receive(msg(seq))
        assert (seqs(deliver), gap) == ([seq], None)
    assert tracker.last("lobby") == 7


def test_a_gap_is_reported_and_later_messages_are_held_back() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(1))
    deliver, gap = tracker.receive(msg(4))
    assert deliver == []
    assert gap == Gap("lobby", after=1, before=4)
    deliver, gap = tracker.receive(msg(5))
    assert (deliver, gap) == ([], Gap("lobby", 1, 4))
    assert tracker.stats.gaps == 1  # one gap, reported once in the stats


def test_history_fills_the_gap_and_releases_everything_in_order() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(1))
    tracker.receive(msg(4))
    deliver = tracker.fill("lobby", [msg(1), msg(2), msg(3), msg(4)])
    assert seqs(deliver) == [2, 3, 4]
    assert tracker.gap("lobby") is None


def test_a_message_that_was_only_overtaken_closes_the_gap_itself() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(2))
    deliver, gap = tracker.receive(msg(1))
    assert (seqs(deliver), gap) == ([1, 2], None)
    assert tracker.stats.reordered == 1


def test_duplicates_by_id_or_by_seq_are_dropped() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(1))
    assert tracker.receive(msg(1)) == ([], None)
    assert tracker.receive(msg(1, mid="another-id-same-seq")) == ([], None)
    tracker.receive(msg(3))
    assert tracker.receive(msg(3)) == ([], None)  # held back, still a duplicate
    assert tracker.stats.duplicates == 3


def test_rejoin_after_an_outage_reports_what_was_missed() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(1))
    deliver, gap = tracker.joined("lobby", 6)
    assert (deliver, gap) == ([], Gap("lobby", after=1, before=7))
    assert seqs(tracker.fill("lobby", [msg(s) for s in range(2, 7)])) == [2, 3, 4, 5, 6]


def test_messages_racing_the_join_reply_are_kept_in_order() -> None:
    tracker = RoomTracker()
    tracker.expect("lobby")
    assert tracker.receive(msg(6)) == ([], None)
    assert tracker.receive(msg(5)) == ([], None)
    deliver, gap = tracker.joined("lobby", 5)
    assert (seqs(deliver), gap) == ([5, 6], None)


def test_first_message_of_an_unjoined_room_starts_its_tracking() -> None:
    tracker = RoomTracker()
    deliver, gap = tracker.receive(msg(9, room="dm:alice:bob"))
    assert (seqs(deliver), gap) == ([9], None)
    assert tracker.rooms() == {"dm:alice:bob": 9}


def test_an_unfillable_gap_is_skipped_and_counted() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(3))
    assert tracker.fill("lobby", []) == []
    assert seqs(tracker.give_up("lobby")) == [3]
    assert tracker.stats.skipped == 2


def test_id_memory_is_bounded() -> None:
    tracker = RoomTracker(id_memory=2)
    for seq in range(1, 6):
        tracker.receive(msg(seq, room="r"))
    assert len(tracker._ids) == 2


def batch(*messages: Message) -> tuple[Message, ...]:
    event = parse_event(
        {"type": "messages", "room": "lobby", "messages": [m.raw for m in messages]}
    )
    assert isinstance(event, Messages)
    return event.messages


def test_a_messages_frame_is_parsed_into_its_messages_with_their_own_raw_form() -> None:
    event = parse_event(
        {"type": "messages", "room": "lobby", "messages": [msg(1).raw, {"id": "x", "seq": 2}, 7]}
    )
    assert isinstance(event, Messages)
    assert [(m.id, m.seq, m.room) for m in event.messages] == [
        ("lobby-1", 1, "lobby"),
        ("x", 2, "lobby"),
    ]
    assert event.messages[0].raw == msg(1).raw  # what `chat listen --json` prints


def test_a_batch_is_delivered_in_order_like_messages_arriving_alone() -> None:
    tracker = joined_at(4)
    deliver, gaps = tracker.receive_batch(batch(msg(5), msg(6), msg(7)))
    assert (seqs(deliver), gaps) == ([5, 6, 7], [])
    assert tracker.stats.delivered == 3


def test_a_batch_drops_what_was_already_delivered_and_what_it_repeats() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(1))
    tracker.receive(msg(2))
    deliver, gaps = tracker.receive_batch(batch(msg(2), msg(3), msg(3), msg(4)))
    assert (seqs(deliver), gaps) == ([3, 4], [])
    assert tracker.stats.duplicates == 2


def test_a_batch_past_a_gap_is_held_and_the_gap_reported_once() -> None:
    tracker = joined_at(0)
    tracker.receive(msg(1))
    deliver, gaps = tracker.receive_batch(batch(msg(4), msg(5)))
    assert (deliver, gaps) == ([], [Gap("lobby", after=1, before=4)])
    assert tracker.stats.gaps == 1
    assert seqs(tracker.fill("lobby", [msg(2), msg(3), msg(4)])) == [2, 3, 4, 5]
    assert tracker.stats.filled == 2  # only what history supplied that the batch had not


def test_a_batch_that_closes_its_own_gap_reports_none() -> None:
    tracker = joined_at(0)
    deliver, gaps = tracker.receive_batch(batch(msg(2), msg(1), msg(3)))
    assert (seqs(deliver), gaps) == ([1, 2, 3], [])
