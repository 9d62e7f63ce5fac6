"""``Gateway``: posts to ``@connections`` through an injected ``apigatewaymanagementapi`` client.

Posts run in a bounded thread pool (the client's connection pool is sized to match, see
``clients.management``). Each post ends in one outcome: delivered; gone (410: the connection no
longer exists, the caller deletes it); throttled (429 ``LimitExceededException`` on every attempt,
retried with full-jitter backoff, then skipped and counted); or failed (anything else).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chatcore.fanout import MAX_PAYLOAD_BYTES, backoff_delay

__all__ = ["Gateway", "Outcome", "PayloadTooLarge"]


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    THROTTLED = "throttled"
    FAILED = "failed"


class PayloadTooLarge(ValueError):
    """The payload is over API Gateway's 128 KB and was not posted."""


def _error_code(exc: ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status or 0)


class Gateway:
    def __init__(
        self,
        client: Any,
        *,
        concurrency: int = 32,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        delay: Callable[[int], float] = backoff_delay,
    ) -> None:
        self._client = client
        self._concurrency = max(1, concurrency)
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._delay = delay
        # The modelled exception classes; a fake client may leave them out.
        exceptions = getattr(client, "exceptions", None)
        self._gone_class: type[BaseException] = getattr(exceptions, "GoneException", _NeverRaised)

    def post(self, connection_id: str, data: bytes) -> Outcome:
        if len(data) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"{len(data)} bytes is over the {MAX_PAYLOAD_BYTES} byte limit")
        for attempt in range(self._max_attempts):
            try:
                self._client.post_to_connection(ConnectionId=connection_id, Data=data)
                return Outcome.DELIVERED
            # GoneException first: it is a ClientError too, and it means "delete", not "fail".
            except self._gone_class:
                return Outcome.GONE
            except ClientError as exc:
                code, status = _error_code(exc)
                if code == "GoneException" or status == 410:
                    return Outcome.GONE
                if code in ("LimitExceededException", "TooManyRequestsException") or status == 429:
                    if attempt + 1 < self._max_attempts:
                        self._sleep(self._delay(attempt))
                        continue
                    return Outcome.THROTTLED
                return Outcome.FAILED
            except BotoCoreError:
                return Outcome.FAILED
        return Outcome.THROTTLED

    def close(self, connection_id: str) -> bool:
        """``DELETE @connections/{id}``: close the socket (API Gateway then runs $disconnect).
        False when it had gone already or the call failed (the sweep tries again later)."""
        try:
            self._client.delete_connection(ConnectionId=connection_id)
            return True
        except self._gone_class:
            return False
        except (ClientError, BotoCoreError):
            return False

    def post_many(self, connection_ids: Iterable[str], data: bytes) -> dict[str, Outcome]:
        """Post the same payload to every id, at most ``concurrency`` at a time."""
        if len(data) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"{len(data)} bytes is over the {MAX_PAYLOAD_BYTES} byte limit")
        ids = list(dict.fromkeys(connection_ids))
        if len(ids) <= 1:
            return {cid: self.post(cid, data) for cid in ids}
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(ids))) as pool:
            outcomes = list(pool.map(lambda cid: self.post(cid, data), ids))
        return dict(zip(ids, outcomes, strict=True))


class _NeverRaised(Exception):
    """Stands in for ``GoneException`` when the client does not model it."""
