"""What API Gateway makes of an integration's answer: pure decisions, no I/O.

The adapter invokes the function (through the runtime) and hands the result here; these functions
say which HTTP status the upgrade gets, or which frame goes back to the client.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from local.gateway.policy import Decision, MalformedAnswer, evaluate

__all__ = [
    "ConnectVerdict",
    "InvokeResultLike",
    "Reply",
    "authorizer_verdict",
    "connect_verdict",
    "missing_identity",
    "route_reply",
]


class InvokeResultLike(Protocol):
    """The part of ``local.runtime``'s ``InvokeResult`` the gateway reads."""

    ok: bool
    payload: Any
    error: dict[str, Any] | None
    request_id: str
    duration_ms: float


@dataclass(frozen=True)
class ConnectVerdict:
    status: int  # 200: go on; anything else refuses the upgrade with this status
    reason: str  # for the log
    principal_id: str | None = None
    context: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def missing_identity(
    sources: Sequence[str], headers: Mapping[str, str], query: Mapping[str, str]
) -> str | None:
    """The first identity source the request lacks (API Gateway then answers 401 uninvoked)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for source in sources:
        src = source.strip()
        for prefix in ("route.request.", "$request."):
            if src.startswith(prefix):
                src = src[len(prefix) :]
        kind, _, name = src.partition(".")
        if kind == "querystring":
            value = query.get(name)
        elif kind == "header":
            value = lowered.get(name.lower())
        else:
            # Context and stage variables are always there locally; nothing to check.
            continue
        if not value:
            return source
    return None


def authorizer_verdict(result: InvokeResultLike, method_arn: str) -> ConnectVerdict:
    """401 for ``Unauthorized``, 403 for a deny, 500 for anything else that went wrong."""
    if not result.ok:
        message = (result.error or {}).get("errorMessage", "")
        if message == "Unauthorized":
            return ConnectVerdict(401, "authorizer raised Unauthorized")
        return ConnectVerdict(500, f"authorizer failed: {message or 'no answer'}")
    try:
        answer = evaluate(result.payload, method_arn)
    except MalformedAnswer as exc:
        return ConnectVerdict(500, f"authorizer answer unusable: {exc}")
    if answer.decision is Decision.DENY:
        return ConnectVerdict(403, "authorizer policy denies " + method_arn)
    return ConnectVerdict(200, "allowed", answer.principal_id, answer.context)


def _status_of(payload: Any) -> int | None:
    if isinstance(payload, Mapping):
        status = payload.get("statusCode")
        if isinstance(status, int) and not isinstance(status, bool):
            return status
        if isinstance(status, str) and status.isdigit():
            return int(status)
    return None


def connect_verdict(result: InvokeResultLike) -> ConnectVerdict:
    """The ``$connect`` integration's answer: its own status, or 502 when it had none to give."""
    if not result.ok:
        message = (result.error or {}).get("errorMessage", "")
        return ConnectVerdict(502, f"$connect integration failed: {message}")
    status = _status_of(result.payload)
    if status is None:
        # A Lambda proxy answer without statusCode is a malformed integration response.
        return ConnectVerdict(502, "$connect integration returned no statusCode")
    return ConnectVerdict(status, f"$connect returned {status}")


@dataclass(frozen=True)
class Reply:
    """What goes back to the client after a message: a frame, an error, or nothing."""

    frame: str | bytes | None = None
    failed: bool = False  # the integration raised, timed out or answered nonsense


def route_reply(result: InvokeResultLike, *, two_way: bool) -> Reply:
    """The frame a route sends back: only two-way routes answer, with the handler's ``body``."""
    if not result.ok:
        return Reply(failed=True)
    if not two_way:
        return Reply()
    payload = result.payload
    if payload is None:
        return Reply()
    if isinstance(payload, Mapping):
        if "body" not in payload:
            return Reply()
        body = payload["body"]
        if body is None:
            return Reply()
        if not isinstance(body, str):
            body = json.dumps(body)
        if payload.get("isBase64Encoded") is True:
            try:
                return Reply(frame=base64.b64decode(body, validate=True))
            except ValueError:
                return Reply(failed=True)
        return Reply(frame=body)
    return Reply(frame=payload if isinstance(payload, str) else json.dumps(payload))
