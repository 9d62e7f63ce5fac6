"""Every minute (EventBridge schedule): warn and close the sockets whose token ends.

API Gateway checks a token only at ``$connect``. The sparse ``ByTokenExpiry`` index lists each
connection under the minute its token ends (``chatcore.sessions``); this function queries the
buckets from a few minutes ago to ``WARN_SECONDS`` ahead, never a Scan. A connection whose
effective ``exp`` (a ``reauth`` may have moved it) is close gets ``reauth_required``; one past it
gets ``token_expired`` and is closed with ``DELETE @connections`` (API Gateway then runs
``$disconnect``, which removes its memberships).
"""

from __future__ import annotations

import time
from typing import Any

from chatcore import wiring
from chatcore.actions import reauth_required_event
from chatcore.config import Config
from chatcore.observability import count, instrument, logger
from chatcore.protocol import encode, error_event
from chatcore.sessions import WARN_SECONDS, Sessions, verdict

__all__ = ["LOOKBACK_SECONDS", "handler"]

# A missed run (or a socket API Gateway could not close) is picked up by the next runs.
LOOKBACK_SECONDS = 600


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    config = Config.from_env()
    store = wiring.connection_store(config)
    delivery = wiring.delivery(config, config.management_endpoint, store=store)
    sessions = Sessions(client=store.client, table=store.table)
    now = time.time()
    warned = closed = 0
    for connection_id, indexed_exp in sessions.expiring(
        before=now + WARN_SECONDS, since=now - LOOKBACK_SECONDS
    ):
        # The index is eventually consistent: the item says whether a reauth moved it since.
        exp = max(indexed_exp, sessions.token_exp(connection_id) or 0)
        state = verdict(exp, now)
        if state == "warn":
            delivery.post(encode(reauth_required_event(exp=exp)), [connection_id])
            warned += 1
        elif state == "expired":
            message = "your token has expired; reconnect with a new one"
            delivery.post(
                encode(error_event(code="token_expired", message=message)), [connection_id]
            )
            if delivery.gateway.close(connection_id):
                closed += 1
    count("ConnectionsExpired", closed)
    logger.info("sweep", extra={"warned": warned, "closed": closed})
    return {"warned": warned, "closed": closed}
