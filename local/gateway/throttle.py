"""The stage's throttling: one token bucket (burst = size, rate = refill per second).

API Gateway counts every request against it, ``$connect`` upgrades and messages alike. Over the
limit an upgrade gets 429 and a message gets the ``Too Many Requests`` error frame without its
integration being invoked. No limit configured means no throttling (AWS then applies account
limits far above what one machine sees).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    def __init__(
        self,
        *,
        burst: int | None,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = burst is not None or rate is not None
        # With only one of the two set, API Gateway's behaviour is the other one being unlimited
        # for bursts (rate only) or no refill beyond the burst (burst only is unusual; keep >= 1).
        self.capacity = float(burst if burst is not None else max(1.0, rate or 1.0))
        self.rate = float(rate) if rate is not None else float("inf")
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    def take(self) -> bool:
        """Spend one token; False means throttled."""
        if not self.enabled:
            return True
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        if self.rate == float("inf"):
            self._tokens = self.capacity
        else:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
