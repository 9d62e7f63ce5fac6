"""What a send does, decided from what one read returned: no I/O, no boto3.

A send reads four items at once (``publisher.Publisher`` does it in one BatchGetItem): the room's
counter, the sender's ban in the room, the ``(user, ref)`` item when the send has a ref, and
the caller's membership when the send needs one. ``decide`` turns that ``SendState`` into one of

- ``Replay``: the ref was stored already; answer its ack, store nothing, count nothing;
- ``Refuse``: ``forbidden`` (the sender is banned from the room: its ``BAN#room#user`` item is
  read in the same request), ``not_member`` or ``rate_limited``; store nothing;
- ``Store``: write the message at ``seq = last + 1`` with the counter's new send window.

The send budget lives on the counter item, which every send reads and writes anyway: a map of
user -> sends within the current epoch second (``window``). A new second replaces the map, so it
holds only the users who sent in this second. The write that stores the message moves the
counter with the condition ``last = n``, so two sends that read the same map cannot both write
it: the loser reads again and decides again. The budget is therefore per user and room per
second, counted exactly.

``failed_part`` reads a cancelled transaction's ``CancellationReasons`` to tell which condition
failed: the ref (another send stored it first), the membership (a leave won the race), the
counter (another send took the seq: ``after_lost_race`` decides again from the counter the
cancellation returned, without another read), or anything else (read again).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "Layout",
    "Part",
    "Refuse",
    "Replay",
    "SendState",
    "Store",
    "after_lost_race",
    "decide",
    "failed_part",
    "state_from_items",
]


@dataclass(frozen=True)
class SendState:
    """The items a send read, consistently, in one request."""

    last: int = 0
    window: int | None = None
    senders: Mapping[str, int] = field(default_factory=dict)
    stored_ack: dict[str, Any] | None = None
    # None: this send checks no membership (a dm, or a caller without a connection).
    member: bool | None = None
    # The sender's ban in this room: None (none), 0 (until unbanned) or its end, epoch seconds.
    banned_until: int | None = None


@dataclass(frozen=True)
class Replay:
    ack: dict[str, Any]


@dataclass(frozen=True)
class Refuse:
    code: str  # "forbidden" (banned), "not_member" or "rate_limited"


@dataclass(frozen=True)
class Store:
    seq: int
    last: int
    window: int
    senders: dict[str, int]


def state_from_items(
    counter: Mapping[str, Any] | None,
    ref: Mapping[str, Any] | None,
    membership: Mapping[str, Any] | None,
    *,
    checks_membership: bool,
    ban: Mapping[str, Any] | None = None,
) -> SendState:
    """A ``SendState`` from the deserialised items (None where the item does not exist)."""
    counter = counter or {}
    window = counter.get("window")
    senders = counter.get("senders") or {}
    return SendState(
        last=int(counter.get("last", 0)),
        window=int(window) if window is not None else None,
        senders={str(user): int(count) for user, count in senders.items()},
        stored_ack=stored_ack(ref),
        member=(membership is not None) if checks_membership else None,
        banned_until=int(ban.get("until", 0)) if ban else None,
    )


def stored_ack(ref_item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ack a ref item keeps (stored as compact JSON), or None."""
    if not ref_item or "ack" not in ref_item:
        return None
    ack: dict[str, Any] = json.loads(str(ref_item["ack"]))
    return ack


def decide(
    state: SendState, *, user_id: str, now_second: int, per_second: int | None
) -> Replay | Refuse | Store:
    """What to do with a send, in the order a client can rely on.

    A stored ref wins over everything: the retry of an acknowledged send gets its ack even when
    the sender has left since or is over budget. ``per_second=None`` means no budget (messages
    the service itself stores).
    """
    if state.stored_ack is not None:
        return Replay(state.stored_ack)
    if state.banned_until is not None and (
        state.banned_until == 0 or state.banned_until > now_second
    ):
        return Refuse("forbidden")
    if state.member is False:
        return Refuse("not_member")
    senders = dict(state.senders) if state.window == now_second else {}
    sent = senders.get(user_id, 0)
    if per_second is not None and sent >= per_second:
        return Refuse("rate_limited")
    senders[user_id] = sent + 1
    return Store(seq=state.last + 1, last=state.last, window=now_second, senders=senders)


def after_lost_race(state: SendState, counter: Mapping[str, Any]) -> SendState:
    """The state to decide again from, when another send moved the counter first.

    The cancelled transaction returned the counter as it is now (``ALL_OLD``); the ref and the
    membership held in that transaction, and the next one checks them again anyway.
    """
    fresh = state_from_items(counter, None, None, checks_membership=False)
    return replace(fresh, member=state.member, banned_until=state.banned_until)


class Part(enum.Enum):
    """Which part of a send's transaction made it fail (in the order they are answered)."""

    REF = "ref"
    MEMBERSHIP = "membership"
    COUNTER = "counter"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Layout:
    """Where each part sits in the transaction's item list (None: not in this transaction)."""

    counter: int = 0
    ref: int | None = None
    membership: int | None = None


def failed_part(codes: Sequence[str | None], layout: Layout) -> Part:
    """The part to answer for, from each item's cancellation ``Code`` (``"None"`` = held).

    A failed ref means another send with the same ``(user, ref)`` was stored: its ack is the
    answer. A failed membership check means the caller is not (or no longer) a member. A failed
    counter means another send took the seq: decide again from the counter it returned.
    Anything else (the message slot is taken, a concurrent transaction touched an item,
    throttling) is a conflict: read again and decide again.
    """

    def failed(index: int | None) -> bool:
        return index is not None and index < len(codes) and codes[index] == "ConditionalCheckFailed"

    if failed(layout.ref):
        return Part.REF
    if failed(layout.membership):
        return Part.MEMBERSHIP
    if failed(layout.counter):
        return Part.COUNTER
    return Part.CONFLICT
