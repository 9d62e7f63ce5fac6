"""HTTP API 2.0 and S3 events for the attachment functions, from ``tests/events/{http,s3}.json``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote_plus

from tests.support.events import load_event

__all__ = ["declare_event", "download_event", "s3_created_event"]


def _http_event(
    method: str,
    route_key: str,
    path: str,
    path_parameters: Mapping[str, str],
    *,
    user: str | None,
    rooms: Iterable[str] = (),
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    event = load_event("http")
    event["routeKey"] = route_key
    event["rawPath"] = f"/dev{path}"
    event["pathParameters"] = dict(path_parameters)
    context = event["requestContext"]
    context["routeKey"] = route_key
    context["requestId"] = uuid.uuid4().hex[:16]
    context["http"].update(method=method, path=f"/dev{path}")
    if user is None:
        context.pop("authorizer")
    else:
        claims = context["authorizer"]["jwt"]["claims"]
        claims.update(sub=user, name=user.capitalize())
        if rooms:
            # The JWT authorizer hands array claims over as "[a b]".
            claims["rooms"] = "[" + " ".join(rooms) + "]"
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    if body is None:
        event["body"] = None
        event["headers"].pop("content-length", None)
    else:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["content-length"] = str(len(event["body"]))
    return event


def declare_event(
    room: str,
    body: Any,
    *,
    user: str | None = "alice",
    rooms: Iterable[str] = (),
) -> dict[str, Any]:
    return _http_event(
        "POST",
        "POST /rooms/{room}/attachments",
        f"/rooms/{room}/attachments",
        {"room": room},
        user=user,
        rooms=rooms,
        body=body,
    )


def download_event(
    attachment_id: str,
    *,
    user: str | None = "alice",
    rooms: Iterable[str] = (),
    accept: str = "*/*",
) -> dict[str, Any]:
    return _http_event(
        "GET",
        "GET /attachments/{id}",
        f"/attachments/{attachment_id}",
        {"id": attachment_id},
        user=user,
        rooms=rooms,
        headers={"accept": accept},
    )


def s3_created_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    event = load_event("s3")
    record = event["Records"][0]
    record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    # S3 puts keys in events URL-encoded, spaces as "+".
    record["s3"]["object"].update(key=quote_plus(key, safe="/"), size=size)
    return event
