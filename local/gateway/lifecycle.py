"""The life of one WebSocket connection: one enum of states, one transition table.

A connection is ``CONNECTING`` while the authorizer and the ``$connect`` integration run (the
upgrade waits for both), ``OPEN`` once they accepted it, ``CLOSING`` from the moment anything
ends it until its ``$disconnect`` integration has run, and ``CLOSED`` after that. A refused or
abandoned upgrade goes straight from ``CONNECTING`` to ``CLOSED``: API Gateway keeps nothing of
it and sends no ``$disconnect``.

Every way a connection can end is one :class:`Ending` carrying the ``disconnectStatusCode`` and
``disconnectReason`` that ``$disconnect`` reports. Only the first ending of an open connection
counts, which is what makes ``$disconnect`` fire exactly once however many things end it at the
same time (a DELETE racing the client's own close, a shutdown during an idle close, ...).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "TRANSITIONS",
    "Ending",
    "InvalidTransition",
    "Lifecycle",
    "Signal",
    "State",
]


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Signal(enum.Enum):
    ACCEPTED = "accepted"  # authorizer and $connect said yes
    REFUSED = "refused"  # authorizer or $connect said no: nothing is kept
    ENDED = "ended"  # anything that ends the connection (see Ending)
    DISCONNECTED = "disconnected"  # the $disconnect integration has run


# (state, signal) -> next state. A pair missing here is a bug in the adapter, not a client's doing.
TRANSITIONS: dict[tuple[State, Signal], State] = {
    (State.CONNECTING, Signal.ACCEPTED): State.OPEN,
    (State.CONNECTING, Signal.REFUSED): State.CLOSED,
    # The client went away before the upgrade finished: never connected, so no $disconnect.
    (State.CONNECTING, Signal.ENDED): State.CLOSED,
    (State.OPEN, Signal.ENDED): State.CLOSING,
    # Later endings of a connection that is already ending change nothing.
    (State.CLOSING, Signal.ENDED): State.CLOSING,
    (State.CLOSING, Signal.DISCONNECTED): State.CLOSED,
    (State.CLOSED, Signal.ENDED): State.CLOSED,
}


@dataclass(frozen=True)
class Ending:
    """Why a connection ended, as ``$disconnect`` reports it."""

    status_code: int
    reason: str

    @classmethod
    def client_close(cls, code: int | None, reason: str) -> Ending:
        # API Gateway passes the client's close code on; a close frame without a code is 1005.
        if code is None or code == 1005:
            return cls(1005, "Client-side close frame status not set")
        return cls(code, reason or ("Connection Closed Normally" if code == 1000 else ""))

    @classmethod
    def dropped(cls) -> Ending:
        return cls(1006, "Connection was closed abnormally")

    @classmethod
    def idle(cls) -> Ending:
        return cls(1001, "Going away")

    @classmethod
    def max_duration(cls) -> Ending:
        return cls(1001, "Going away")

    @classmethod
    def deleted(cls) -> Ending:
        return cls(1000, "Connection Closed Normally")

    @classmethod
    def shutdown(cls) -> Ending:
        return cls(1001, "Going away")

    @classmethod
    def too_large(cls) -> Ending:
        return cls(1009, "Message too big")


class InvalidTransition(RuntimeError):
    """The adapter fed a signal the table has no entry for."""


class Lifecycle:
    """The state of one connection; ``apply`` says what the adapter must do next."""

    __slots__ = ("state", "ending")

    def __init__(self) -> None:
        self.state = State.CONNECTING
        self.ending: Ending | None = None

    def apply(self, signal: Signal, ending: Ending | None = None) -> bool:
        """Move along the table; True when this call is the one that must run ``$disconnect``."""
        try:
            nxt = TRANSITIONS[(self.state, signal)]
        except KeyError:
            raise InvalidTransition(f"{signal.name} in state {self.state.name}") from None
        must_disconnect = self.state is State.OPEN and nxt is State.CLOSING
        if must_disconnect:
            self.ending = ending or Ending.dropped()
        self.state = nxt
        return must_disconnect

    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN
