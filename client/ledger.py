"""The load tester's books: deliveries counted against acks and the rooms' stored history. No I/O.

A load test cannot tell a message that is gone from one that is merely slow by waiting alone.
So after the drain window it reads each room's ``history`` and sorts every acked message and
every (member, message) pair into exactly one place:

- **lost**: acked but not in its room's history. The server said it stored the message and did
  not: data loss, which must be 0.
- **unverified**: acked in a room whose history could not be read (counted apart, never as 0 lost).
- **delivered**: reached the member within the drain window.
- **late**: reached the member after the drain window (while history was read, or in the late
  window that follows).
- **undelivered**: stored, and never reached a member that was connected throughout the run.
- **missed**: stored, and never reached a member whose connection was interrupted (reconnected
  or closed); the client library should have caught up from history, so this is a failure too,
  but of a different part.

:class:`LoadRun` (``client.loadtest``) feeds the ledger as things happen; tests feed it
synthetic events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Accounting", "Ledger"]


@dataclass(frozen=True)
class Accounting:
    expected: int = 0  # acked messages x members of their room
    delivered: int = 0
    late: int = 0
    undelivered: int = 0
    missed: int = 0
    lost: int = 0  # acked messages, not deliveries
    unverified: int = 0  # acked messages
    stored_unacked: int = 0  # stored messages of the run whose send never got its ack
    duplicates: int = 0  # the same message twice at one member


@dataclass
class _Member:
    room: str
    arrived: dict[str, float] = field(default_factory=dict)  # message id -> arrival time
    interrupted: bool = False


class Ledger:
    def __init__(self) -> None:
        self._members: dict[int, _Member] = {}
        self._room_size: dict[str, int] = {}
        self._acked: dict[str, str] = {}  # message id -> room
        self._stored: dict[str, set[str]] = {}  # room -> message ids found in history
        self._unreadable: set[str] = set()
        self._drain_end: float | None = None
        self._outstanding: set[tuple[int, str]] | None = None
        self.duplicates = 0

    # -- what happened ---------------------------------------------------------------------------

    def member(self, member: int, room: str) -> None:
        """A connection that joined ``room`` before the first send."""
        if member not in self._members:
            self._room_size[room] = self._room_size.get(room, 0) + 1
        self._members[member] = _Member(room)

    def interrupted(self, member: int) -> None:
        """The member's connection dropped (and reconnected, or not) during the run."""
        self._members[member].interrupted = True

    def acked(self, message_id: str, room: str) -> None:
        self._acked[message_id] = room

    def received(self, member: int, message_id: str, at: float) -> bool:
        """A message reached a member at time ``at``; False when it had already arrived."""
        state = self._members[member]
        if message_id in state.arrived:
            self.duplicates += 1
            return False
        state.arrived[message_id] = at
        if self._outstanding is not None:
            self._outstanding.discard((member, message_id))
        return True

    def drain_ended(self, at: float) -> None:
        """The drain window closed: arrivals after ``at`` are late."""
        self._drain_end = at

    def stored(self, room: str, message_ids: Iterable[str]) -> None:
        """The run's messages found in ``room``'s history."""
        self._stored.setdefault(room, set()).update(message_ids)

    def unreadable(self, room: str) -> None:
        """``room``'s history could not be read: its acked messages cannot be verified."""
        self._unreadable.add(room)

    # -- what is still to come -------------------------------------------------------------------

    def expected_count(self) -> int:
        """Acked messages x members of their room."""
        return sum(self._room_size.get(room, 0) for room in self._acked.values())

    def watch(self) -> None:
        """Once history is in: count the deliveries of acked, stored messages still to come,
        so :meth:`outstanding` can tell when nothing more is worth waiting for."""
        by_room = self._acked_by_room()
        self._outstanding = {
            (index, message_id)
            for index, state in self._members.items()
            for message_id in by_room.get(state.room, [])
            if message_id not in state.arrived and not self._is_lost(message_id, state.room)
        }

    def outstanding(self) -> int:
        """Deliveries still to come since :meth:`watch` (0 before it is called)."""
        return len(self._outstanding or ())

    # -- the books -------------------------------------------------------------------------------

    def _is_lost(self, message_id: str, room: str) -> bool:
        return room not in self._unreadable and message_id not in self._stored.get(room, set())

    def _acked_by_room(self) -> dict[str, list[str]]:
        by_room: dict[str, list[str]] = {}
        for message_id, room in self._acked.items():
            by_room.setdefault(room, []).append(message_id)
        return by_room

    def account(self) -> Accounting:
        by_room = self._acked_by_room()
        lost = sum(1 for mid, room in self._acked.items() if self._is_lost(mid, room))
        unverified = sum(1 for room in self._acked.values() if room in self._unreadable)
        delivered = late = undelivered = missed = 0
        for state in self._members.values():
            for message_id in by_room.get(state.room, []):
                at = state.arrived.get(message_id)
                if at is not None:
                    if self._drain_end is not None and at > self._drain_end:
                        late += 1
                    else:
                        delivered += 1
                elif self._is_lost(message_id, state.room):
                    continue  # counted once, as a lost message
                elif state.interrupted:
                    missed += 1
                else:
                    undelivered += 1
        stored_unacked = sum(
            1 for ids in self._stored.values() for mid in ids if mid not in self._acked
        )
        return Accounting(
            expected=self.expected_count(),
            delivered=delivered,
            late=late,
            undelivered=undelivered,
            missed=missed,
            lost=lost,
            unverified=unverified,
            stored_unacked=stored_unacked,
            duplicates=self.duplicates,
        )
