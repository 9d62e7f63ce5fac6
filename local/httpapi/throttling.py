"""Route throttling of an HTTP API stage: one token bucket per route.

``DefaultRouteSettings`` gives every route its own bucket of those limits, a ``RouteSettings``
entry replaces them for its route. A settings object without limits means 0 / 0, so every
request of those routes answers 429 (API Gateway's trap, kept on purpose). No settings at all:
no throttling (AWS's account limits are far above what one machine sees).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from local.gateway.throttle import TokenBucket
from local.model import ThrottleSpec

__all__ = ["RouteThrottles"]


class RouteThrottles:
    def __init__(
        self,
        default: ThrottleSpec | None,
        routes: Mapping[str, ThrottleSpec],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.routes = dict(routes)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, route_key: str) -> bool:
        """Spend one request of ``route_key``'s budget; False means 429."""
        bucket = self._buckets.get(route_key)
        if bucket is None:
            spec = self.routes.get(route_key, self.default)
            if spec is None:
                return True
            bucket = TokenBucket(burst=spec.burst, rate=spec.rate, clock=self._clock)
            self._buckets[route_key] = bucket
        return bucket.take()
