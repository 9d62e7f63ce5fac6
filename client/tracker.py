"""Per-room ordering, gap detection and de-duplication, with no I/O.

Each room's ``seq`` is gapless and increasing, so a client that remembers the last ``seq`` it
delivered can tell when something is missing (after a reconnect, or a lost post) and ask
``history(after=last)`` for exactly that range. The tracker decides;
:class:`~client.chat.ChatClient` does the asking. Messages past a gap are held back, so the
application sees every room in order. Duplicates (the same ``id`` twice, or a ``seq`` already
delivered) are dropped and counted. A ``messages`` frame (several messages of one room at once)
goes through :meth:`RoomTracker.receive_batch`, which is :meth:`~RoomTracker.receive` for each.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from client.events import Message

__all__ = ["Gap", "RoomTracker", "TrackerStats"]


@dataclass(frozen=True)
class Gap:
    """Messages ``after < seq < before`` of ``room`` are missing (``before`` None: up to now)."""

    room: str
    after: int
    before: int | None


@dataclass
class TrackerStats:
    delivered: int = 0
    duplicates: int = 0  # dropped: same id, or a seq already delivered
    reordered: int = 0  # arrived with a seq lower than one already seen in its room
    gaps: int = 0  # times a missing range was detected
    skipped: int = 0  # messages given up on (history could not supply them)
    filled: int = 0  # delivered from history (what live delivery had missed)


@dataclass
class _Room:
    last: int | None = None  # highest seq delivered; None until the join reply says where we start
    high: int = 0  # highest seq seen on the wire
    pending: dict[int, Message] = field(default_factory=dict)


class RoomTracker:
    def __init__(self, *, id_memory: int = 50_000) -> None:
        self._rooms: dict[str, _Room] = {}
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._id_memory = id_memory
        self.stats = TrackerStats()

    # -- state ---------------------------------------------------------------------------------

    def last(self, room: str) -> int | None:
        state = self._rooms.get(room)
        return None if state is None else state.last

    def rooms(self) -> dict[str, int | None]:
        """Every tracked room with its last delivered seq (what a reconnect must catch up on)."""
        return {room: state.last for room, state in self._rooms.items()}

    def forget(self, room: str) -> None:
        self._rooms.pop(room, None)

    def expect(self, room: str) -> None:
        """A join is on its way: hold the room's messages until :meth:`joined` gives its seq."""
        self._rooms.setdefault(room, _Room())

    # -- inputs --------------------------------------------------------------------------------

    def joined(self, room: str, seq: int) -> tuple[list[Message], Gap | None]:
        """The server says the room's latest seq is ``seq``.

        On a first join that is where this client starts; on a re-join it shows how much was
        missed while away, returned as a gap to fill.
        """
        state = self._rooms.setdefault(room, _Room())
        deliver: list[Message] = []
        if state.last is None:
            # Live messages that raced ahead of the join reply are still worth showing, in order.
            for s in sorted(s for s in state.pending if s <= seq):
                deliver.append(state.pending.pop(s))
            state.last = seq
            self.stats.delivered += len(deliver)
            deliver.extend(self._drain(state))
            return deliver, self._gap(room, state)
        deliver = self._drain(state)
        if seq > state.last:
            self.stats.gaps += 1
            return deliver, Gap(room, state.last, seq + 1)
        return deliver, self._gap(room, state)

    def receive(self, message: Message) -> tuple[list[Message], Gap | None]:
        """One live message: what to deliver now, and a gap if one has opened."""
        if message.id and message.id in self._ids:
            self.stats.duplicates += 1
            return [], None
        state = self._rooms.get(message.room)
        if state is None:
            # A room this client never joined (a DM): its first message is the starting point.
            state = self._rooms[message.room] = _Room(last=message.seq - 1)
        if message.seq < state.high:
            self.stats.reordered += 1
        state.high = max(state.high, message.seq)
        if (state.last is not None and message.seq <= state.last) or message.seq in state.pending:
            self.stats.duplicates += 1
            return [], None
        self._remember(message.id)
        had_gap = bool(state.pending)
        state.pending[message.seq] = message
        if state.last is None:
            return [], None
        deliver = self._drain(state)
        gap = self._gap(message.room, state)
        if gap is not None and not had_gap:
            self.stats.gaps += 1
        return deliver, gap

    def receive_batch(
        self, messages: list[Message] | tuple[Message, ...]
    ) -> tuple[list[Message], list[Gap]]:
        """Several live messages at once (a ``messages`` frame): each as :meth:`receive` would
        take it. Returns what to deliver, in order, and the gaps still open afterwards (one per
        room at most; a gap the batch itself closed is not one)."""
        deliver: list[Message] = []
        rooms: dict[str, None] = {}
        for message in messages:
            now, _ = self.receive(message)
            deliver.extend(now)
            rooms.setdefault(message.room, None)
        gaps = [gap for gap in (self.gap(room) for room in rooms) if gap is not None]
        return deliver, gaps

    def fill(self, room: str, messages: list[Message] | tuple[Message, ...]) -> list[Message]:
        """Messages fetched with ``history``: deliver whatever now lines up."""
        state = self._rooms.get(room)
        if state is None or state.last is None:
            return []
        for message in messages:
            if message.room != room or message.seq <= state.last or message.seq in state.pending:
                continue
            if message.id and message.id in self._ids:
                continue
            self._remember(message.id)
            state.pending[message.seq] = message
            self.stats.filled += 1
        return self._drain(state)

    def give_up(self, room: str) -> list[Message]:
        """History cannot supply the gap (expired, or not readable): move past it."""
        state = self._rooms.get(room)
        if state is None or not state.pending or state.last is None:
            return []
        first = min(state.pending)
        self.stats.skipped += first - state.last - 1
        state.last = first - 1
        return self._drain(state)

    def gap(self, room: str) -> Gap | None:
        state = self._rooms.get(room)
        return None if state is None else self._gap(room, state)

    # -- internals -----------------------------------------------------------------------------

    def _drain(self, state: _Room) -> list[Message]:
        deliver: list[Message] = []
        assert state.last is not None
        while state.last + 1 in state.pending:
            state.last += 1
            deliver.append(state.pending.pop(state.last))
        self.stats.delivered += len(deliver)
        return deliver

    @staticmethod
    def _gap(room: str, state: _Room) -> Gap | None:
        if state.last is None or not state.pending:
            return None
        return Gap(room, state.last, min(state.pending))

    def _remember(self, message_id: str) -> None:
        if not message_id:
            return
        self._ids[message_id] = None
        if len(self._ids) > self._id_memory:
            self._ids.popitem(last=False)
