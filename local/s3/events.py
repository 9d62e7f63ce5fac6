"""Bucket notifications and CORS of the local S3, as plain data: no I/O.

:func:`subscriptions` reads the template's ``Events: Type: S3`` (bucket, event patterns, key
filter) per function; :func:`object_created_event` builds the record Lambda gets from S3
(``eventVersion`` 2.1, URL-encoded key, ``sequencer`` ...). :func:`cors_headers` answers a
browser's preflight or request from the bucket's CORS rules.
"""

from __future__ import annotations

import fnmatch
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from local.model import Stack

__all__ = [
    "Subscription",
    "cors_headers",
    "cors_rules_of",
    "object_created_event",
    "subscriptions",
]

_sequence = itertools.count(1)


@dataclass(frozen=True)
class Subscription:
    """One function subscribed to one bucket's events."""

    function: str  # logical id
    configuration_id: str
    events: tuple[str, ...]  # "s3:ObjectCreated:*", "s3:ObjectCreated:Post", ...
    prefix: str = ""
    suffix: str = ""

    def wants(self, event_name: str, key: str) -> bool:
        name = f"s3:{event_name}"
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.events):
            return False
        return key.startswith(self.prefix) and key.endswith(self.suffix)


def _bucket_name(stack: Stack, value: Any) -> str:
    text = str(value)
    resource = stack.resources.get(text)
    return resource.physical_id if resource is not None else text


def subscriptions(stack: Stack) -> dict[str, list[Subscription]]:
    """Bucket name -> the functions its ``Events: Type: S3`` entries run."""
    out: dict[str, list[Subscription]] = {}
    for function in stack.functions.values():
        for spec in function.events:
            if spec.type != "S3":
                continue
            props = spec.properties
            events = props.get("Events") or []
            rules = ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            by_name = {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules}
            out.setdefault(_bucket_name(stack, props.get("Bucket")), []).append(
                Subscription(
                    function=function.logical_id,
                    configuration_id=f"{function.logical_id}{spec.name}",
                    events=tuple([events] if isinstance(events, str) else events),
                    prefix=by_name.get("prefix", ""),
                    suffix=by_name.get("suffix", ""),
                )
            )
    return out


def _event_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def object_created_event(
    subscription: Subscription,
    *,
    event_name: str,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    region: str,
    principal: str,
    source_ip: str,
    owner: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``{"Records": [...]}`` exactly as S3 invokes a function for one new object."""
    now = now or datetime.now(UTC)
    request_id = uuid.uuid4().hex[:16].upper()
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _event_time(now),
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {
            "x-amz-request-id": request_id,
            "x-amz-id-2": uuid.uuid4().hex + uuid.uuid4().hex,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": subscription.configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": owner},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                # URL-encoded as S3 does it: spaces become "+", "/" stays.
                "key": quote_plus(key, safe="/"),
                "size": size,
                "eTag": etag.strip('"'),
                # Grows with every event, as S3's does per key.
                "sequencer": f"{int(now.timestamp() * 1000):012X}{next(_sequence):06X}",
            },
        },
    }
    return {"Records": [record]}


# ---- CORS ---------------------------------------------------------------------------------------


def cors_rules_of(bucket_properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = (bucket_properties.get("CorsConfiguration") or {}).get(
        "CorsRules"
    ) or []
    return rules


def _origin_allowed(patterns: Sequence[str], origin: str) -> str | None:
    for pattern in patterns:
        if pattern == "*":
            return "*"
        if fnmatch.fnmatchcase(origin, pattern):
            return origin
    return None


def cors_headers(
    rules: Sequence[Mapping[str, Any]],
    *,
    origin: str | None,
    method: str,
    request_headers: Sequence[str] = (),
) -> dict[str, str] | None:
    """The CORS response headers for ``origin`` doing ``method``, or None when no rule allows it.

    For a preflight, ``method`` is ``Access-Control-Request-Method`` and ``request_headers`` its
    ``Access-Control-Request-Headers``.
    """
    if not origin:
        return None
    for rule in rules:
        allowed = _origin_allowed([str(o) for o in rule.get("AllowedOrigins") or []], origin)
        if allowed is None or method.upper() not in rule.get("AllowedMethods", []):
            continue
        allowed_headers = [str(h).lower() for h in rule.get("AllowedHeaders") or []]
        if not all("*" in allowed_headers or h.lower() in allowed_headers for h in request_headers):
            continue
        headers = {
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": ", ".join(rule.get("AllowedMethods", [])),
            "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        }
        if request_headers:
            headers["Access-Control-Allow-Headers"] = ", ".join(request_headers)
        if rule.get("ExposedHeaders"):
            headers["Access-Control-Expose-Headers"] = ", ".join(rule["ExposedHeaders"])
        if rule.get("MaxAge") is not None:
            headers["Access-Control-Max-Age"] = str(rule["MaxAge"])
        return headers
    return None
