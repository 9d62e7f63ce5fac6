"""Exponential backoff with full jitter.

Each delay is drawn uniformly from ``[0, min(cap, base * 2**attempt)]`` ("full jitter", as in the
AWS Architecture Blog's "Exponential Backoff And Jitter"): when a server restarts, thousands of
clients spread their reconnects over the whole window instead of arriving in waves.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays for successive attempts; :meth:`reset` after a success starts over."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 30.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rand = rand
        self.attempt = 0

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay before attempt number ``attempt`` (0-based)."""
        # Past ~60 doublings the float overflows long after the cap has taken over.
        return min(self.cap, self.base * 2 ** min(attempt, 60))

    def next(self) -> float:
        delay = self._rand() * self.ceiling(self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
