"""Packing a stream batch's messages into frames: per room, seq order, within the 32 KB unit."""

from __future__ import annotations

import json
import random
from typing import Any

from chatcore.frames import FRAME_UNIT_BYTES, Frame, messages_in, pack_room, plan_frames
from chatcore.protocol import encode, message_event, messages_event


def msg(seq: int, room: str = "lobby", text: str | None = None) -> dict[str, Any]:
    return message_event(
        id=f"{room}-{seq}",
        room=room,
        seq=seq,
        from_="alice",
        name="Alice",
        text=f"message {seq}" if text is None else text,
        ts=1_700_000_000_000 + seq,
    )


def records(*seqs: int, room: str = "lobby") -> list[tuple[str, dict[str, Any]]]:
    return [(f"sn-{room}-{seq}", msg(seq, room)) for seq in seqs]


def carried(frame: Frame) -> list[dict[str, Any]]:
    event = json.loads(frame.data)
    return event["messages"] if event["type"] == "messages" else [event]


def test_one_message_is_its_own_message_event_as_before() -> None:
    [frame] = pack_room("lobby", records(7))
    assert frame.data == encode(msg(7))
    assert (frame.records, frame.messages, frame.batched) == (("sn-lobby-7",), 1, False)


def test_several_messages_of_a_room_are_one_messages_frame_in_seq_order() -> None:
    shuffled = records(3, 1, 4, 2)
    [frame] = pack_room("lobby", shuffled)
    assert json.loads(frame.data) == {
        "type": "messages",
        "room": "lobby",
        "messages": [msg(1), msg(2), msg(3), msg(4)],
    }
    assert frame.data == encode(
        messages_event(room="lobby", messages=[msg(s) for s in (1, 2, 3, 4)])
    )
    assert frame.records == ("sn-lobby-1", "sn-lobby-2", "sn-lobby-3", "sn-lobby-4")
    assert (frame.messages, frame.batched) == (4, True)


def test_frames_fill_the_unit_greedily_and_never_reorder() -> None:
    rng = random.Random(7)
    # Multi-byte text: the limit is on encoded bytes, not characters.
    texts = ["é€" * rng.randint(1, 900) for _ in range(200)]
    items = [(f"sn-{s}", msg(s, text=texts[s - 1])) for s in range(1, 201)]
    frames = pack_room("lobby", items)
    assert len(frames) > 1
    assert all(len(f.data) <= FRAME_UNIT_BYTES for f in frames)
    seqs = [m["seq"] for f in frames for m in carried(f)]
    assert seqs == list(range(1, 201))
    assert [r for f in frames for r in f.records] == [f"sn-{s}" for s in range(1, 201)]
    for frame, after in zip(frames, frames[1:], strict=False):
        # Greedy: the next frame's first message would not have fitted in this one.
        grown = carried(frame) + carried(after)[:1]
        assert len(encode(messages_event(room="lobby", messages=grown))) > FRAME_UNIT_BYTES


def test_a_frame_of_exactly_the_unit_is_kept_and_one_byte_more_is_split() -> None:
    two = [msg(1, text="a"), msg(2, text="b")]
    exact = len(encode(messages_event(room="lobby", messages=two)))
    items = [("sn-1", two[0]), ("sn-2", two[1])]
    [frame] = pack_room("lobby", items, max_bytes=exact)
    assert len(frame.data) == exact and frame.messages == 2
    split = pack_room("lobby", items, max_bytes=exact - 1)
    assert [f.data for f in split] == [encode(two[0]), encode(two[1])]


def test_a_message_over_the_unit_goes_alone_between_batched_neighbours() -> None:
    big = msg(3, text="x" * (FRAME_UNIT_BYTES + 10))
    items = [*records(1, 2), ("sn-lobby-3", big), *records(4, 5)]
    frames = pack_room("lobby", items)
    assert [f.messages for f in frames] == [2, 1, 2]
    assert frames[1].data == encode(big)
    assert [m["seq"] for f in frames for m in carried(f)] == [1, 2, 3, 4, 5]


def test_the_same_message_twice_in_a_batch_is_sent_once_and_reports_both_records() -> None:
    items = [*records(1, 2), ("sn-again", msg(2))]
    [frame] = pack_room("lobby", items)
    assert [m["seq"] for m in carried(frame)] == [1, 2]
    assert frame.records == ("sn-lobby-1", "sn-lobby-2", "sn-again")


def test_plan_groups_by_room_in_the_order_the_batch_names_them() -> None:
    items = [*records(1, room="ops"), *records(1, 2), *records(2, 3, room="ops")]
    plan = plan_frames(items)
    assert list(plan) == ["ops", "lobby"]
    assert [m["seq"] for m in carried(plan["ops"][0])] == [1, 2, 3]
    assert [m["seq"] for m in carried(plan["lobby"][0])] == [1, 2]
    assert plan_frames([]) == {}


def test_messages_in_counts_what_a_payload_carries() -> None:
    [frame] = pack_room("lobby", records(1, 2, 3))
    assert messages_in(frame.data) == 3
    assert messages_in(encode(msg(1))) == 1
    assert messages_in(b'{"type":"notification","id":"n","payload":{},"ts":0}') == 1
    assert messages_in(b'{"type":"messages"') == 1  # not JSON: counted as one post's worth
