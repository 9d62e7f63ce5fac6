"""An HTTP API's Lambda REQUEST authorizer (payload format 2.0): identity, verdict, cache.

* Identity sources (``$request.header.Authorization``, ``$request.querystring.token``,
  ``$context.X``, ``$stageVariables.X``): when one is missing or empty API Gateway answers 401
  without invoking the authorizer. Their values are the ``identitySource`` list of the event and
  the cache key.
* Simple responses (``EnableSimpleResponses``): ``{"isAuthorized": bool, "context": {...}}``;
  IAM responses: ``{"principalId", "policyDocument", "context"}`` matched against the route ARN.
  Denied is 403; an authorizer that raised ``Unauthorized`` is 401; anything else that went
  wrong (an error, an answer API Gateway cannot read) is 500.
* What the integration sees is ``requestContext.authorizer.lambda`` = the context.
* Results are cached by identity values for ``AuthorizerResultTtlInSeconds`` (none without
  identity sources); a cached IAM policy is evaluated again for each route, as AWS does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from local.gateway.policy import Decision, MalformedAnswer, evaluate
from local.httpapi.events import HttpRequest

__all__ = ["AuthorizerCache", "LambdaVerdict", "identity_values", "lambda_verdict"]


@dataclass(frozen=True)
class LambdaVerdict:
    status: int  # 200, 401, 403 or 500
    reason: str
    context: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def authorizer_context(self) -> dict[str, Any]:
        return {"lambda": dict(self.context or {})}


def _query_value(raw_query: str, name: str) -> str | None:
    import urllib.parse

    values = [v for k, v in urllib.parse.parse_qsl(raw_query, keep_blank_values=True) if k == name]
    return ",".join(values) if values else None


def identity_values(
    sources: Sequence[str],
    request: HttpRequest,
    *,
    stage_variables: Mapping[str, str],
    context: Mapping[str, str],
) -> tuple[list[str] | None, str | None]:
    """(values, None), or (None, the first source that is missing)."""
    values: list[str] = []
    for source in sources:
        text = source.strip()
        value: str | None
        if text.startswith("$request.header."):
            value = request.header(text.removeprefix("$request.header."))
        elif text.startswith("$request.querystring."):
            value = _query_value(request.query, text.removeprefix("$request.querystring."))
        elif text.startswith("$stageVariables."):
            value = stage_variables.get(text.removeprefix("$stageVariables."))
        elif text.startswith("$context."):
            value = context.get(text.removeprefix("$context."))
        else:
            value = None
        if not value:
            return None, source
        values.append(value)
    return values, None


def lambda_verdict(
    ok: bool,
    payload: Any,
    error: Mapping[str, Any] | None,
    *,
    simple: bool,
    route_arn: str,
) -> LambdaVerdict:
    if not ok:
        message = (error or {}).get("errorMessage", "")
        if message == "Unauthorized":
            return LambdaVerdict(401, "authorizer raised Unauthorized")
        return LambdaVerdict(500, f"authorizer failed: {message or 'no answer'}")
    if simple:
        if not isinstance(payload, dict) or not isinstance(payload.get("isAuthorized"), bool):
            return LambdaVerdict(500, "authorizer answer has no boolean isAuthorized")
        context = payload.get("context")
        context = {} if context is None else context
        if not isinstance(context, dict):
            return LambdaVerdict(500, "authorizer context must be an object")
        if not payload["isAuthorized"]:
            return LambdaVerdict(403, "authorizer answered isAuthorized: false")
        return LambdaVerdict(200, "allowed", dict(context))
    try:
        answer = evaluate(payload, route_arn)
    except MalformedAnswer as exc:
        return LambdaVerdict(500, f"authorizer answer unusable: {exc}")
    if answer.decision is Decision.DENY:
        return LambdaVerdict(403, f"authorizer policy denies {route_arn}")
    return LambdaVerdict(200, "allowed", dict(answer.context))


@dataclass
class _Entry:
    expires: float
    ok: bool
    payload: Any
    error: dict[str, Any] | None


class AuthorizerCache:
    """Authorizer results by (authorizer, identity values), for the authorizer's TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, tuple[str, ...]], _Entry] = {}

    def get(self, authorizer: str, identity: Sequence[str]) -> _Entry | None:
        key = (authorizer, tuple(identity))
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None
        return entry

    def put(
        self,
        authorizer: str,
        identity: Sequence[str],
        ttl_seconds: float,
        *,
        ok: bool,
        payload: Any,
        error: dict[str, Any] | None,
    ) -> None:
        if ttl_seconds <= 0 or not identity:
            return
        self._entries[(authorizer, tuple(identity))] = _Entry(
            self._clock() + ttl_seconds, ok, payload, error
        )
