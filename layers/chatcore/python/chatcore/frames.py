"""Which frames a stream batch posts to a room: one ``messages`` frame for several messages. No I/O.

API Gateway bills a WebSocket message per 32 KB unit and every ``@connections`` POST counts
against the account's shared request rate. When one stream batch holds several messages for a
room, posting each member one frame with all of them (in seq order) instead of one POST per
message saves both. A frame is kept within one metering unit, so it never costs more than the
single message it replaces; the messages of a busy room are cut into as many frames as needed.

A frame that would carry one message (the batch had only one, or the message alone fills a
unit) is that message's own ``message`` event, so an older client that knows only ``message``
still gets every message that arrives on its own.

Each frame names the stream records it carries: if its post fails, every one of them is reported
to the event source, so a partial batch response retries exactly what did not go out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chatcore.protocol import encode, messages_event

__all__ = [
    "FRAME_UNIT_BYTES",
    "Frame",
    "messages_in",
    "pack_room",
    "plan_frames",
]

# API Gateway meters WebSocket messages in 32 KB increments.
FRAME_UNIT_BYTES = 32 * 1024

# How a ``messages`` frame starts on the wire (``encode`` writes ``type`` first).
_MESSAGES_PREFIX = b'{"type":"messages"'


@dataclass(frozen=True)
class Frame:
    """One payload to post to every member of ``room``."""

    room: str
    data: bytes
    records: tuple[str, ...]  # the stream sequence numbers it carries, in seq order
    messages: int  # message events in it (1: a plain ``message`` event)

    @property
    def batched(self) -> bool:
        return self.messages > 1


@dataclass
class _Item:
    message: dict[str, Any]
    encoded: bytes
    records: list[str]


def plan_frames(
    messages: Iterable[tuple[str, dict[str, Any]]], *, max_bytes: int = FRAME_UNIT_BYTES
) -> dict[str, list[Frame]]:
    """Group ``(sequence number, message event)`` pairs by room and pack each room's frames.

    Rooms keep the order in which the batch first names them; each room's frames are in seq
    order, to be posted one after the other.
    """
    by_room: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for sequence_number, message in messages:
        by_room.setdefault(str(message["room"]), []).append((sequence_number, message))
    return {room: pack_room(room, items, max_bytes=max_bytes) for room, items in by_room.items()}


def pack_room(
    room: str,
    messages: Sequence[tuple[str, dict[str, Any]]],
    *,
    max_bytes: int = FRAME_UNIT_BYTES,
) -> list[Frame]:
    """Frames for one room's messages: seq order, as few as fit in ``max_bytes`` each.

    A message seen twice in the batch (same ``id``) is sent once; the frame carries both
    records. Packing is greedy in seq order, so frames never reorder messages.
    """
    items: list[_Item] = []
    by_id: dict[str, _Item] = {}
    for sequence_number, message in sorted(messages, key=lambda pair: int(pair[1]["seq"])):
        known = by_id.get(str(message["id"]))
        if known is not None:
            known.records.append(sequence_number)
            continue
        item = _Item(message=message, encoded=encode(message), records=[sequence_number])
        by_id[str(message["id"])] = item
        items.append(item)

    # The frame's bytes are its empty form plus each message and a comma between two.
    empty = len(encode(messages_event(room=room, messages=[])))
    frames: list[Frame] = []
    current: list[_Item] = []
    size = empty

    def flush() -> None:
        nonlocal current, size
        if current:
            frames.append(_frame(room, current))
        current, size = [], empty

    for item in items:
        if current and size + 1 + len(item.encoded) > max_bytes:
            flush()
        if empty + len(item.encoded) > max_bytes:
            # Too big to share a unit with anything: it goes alone, as a plain message event.
            flush()
            frames.append(_frame(room, [item]))
            continue
        size += len(item.encoded) + (1 if current else 0)
        current.append(item)
    flush()
    return frames


def _frame(room: str, items: list[_Item]) -> Frame:
    records = tuple(record for item in items for record in item.records)
    if len(items) == 1:
        return Frame(room=room, data=items[0].encoded, records=records, messages=1)
    data = encode(messages_event(room=room, messages=[item.message for item in items]))
    return Frame(room=room, data=data, records=records, messages=len(items))


def messages_in(payload: bytes) -> int:
    """How many message events an encoded payload carries (a ``messages`` frame: its length)."""
    if not payload.startswith(_MESSAGES_PREFIX):
        return 1
    try:
        items = json.loads(payload).get("messages")
    except (ValueError, AttributeError):
        return 1
    return len(items) if isinstance(items, list) and items else 1
