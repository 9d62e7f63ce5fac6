"""Load the captured-shape events in ``tests/events/`` and fill in what a test varies.

Each builder starts from the JSON file (so every field API Gateway, DynamoDB Streams, SNS or SQS
sends is there) and changes only ids, identity and body.
"""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

__all__ = [
    "EVENTS_DIR",
    "authorizer_event",
    "connect_event",
    "disconnect_event",
    "http_authorizer_event",
    "http_request",
    "lambda_stream_record",
    "load_event",
    "message_request",
    "sns_event",
    "sqs_event",
    "stream_event",
]

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


@cache
def _read(name: str) -> str:
    return (EVENTS_DIR / f"{name}.json").read_text()


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/events/{name}.json``."""
    event: dict[str, Any] = json.loads(_read(name))
    return event


def _authorizer(
    user: str,
    name: str | None,
    rooms: Iterable[str],
    roles: Iterable[str] = (),
    exp: int | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "principalId": user,
        "integrationLatency": 143,
        "userId": user,
        "name": name or user,
        "rooms": ",".join(rooms),
    }
    if roles:
        context["roles"] = ",".join(roles)
    if exp is not None:
        context["exp"] = str(exp)
    return context


def _context_ids(event: dict[str, Any], connection_id: str) -> None:
    context = event["requestContext"]
    context["connectionId"] = connection_id
    request_id = uuid.uuid4().hex[:16]
    context["requestId"] = request_id
    context["extendedRequestId"] = request_id


def authorizer_event(
    token: str | None, *, origin: str | None = "https://chat.example.com"
) -> dict[str, Any]:
    event = load_event("authorizer")
    if token is None:
        event["queryStringParameters"] = None
        event["multiValueQueryStringParameters"] = None
    else:
        event["queryStringParameters"]["token"] = token
        event["multiValueQueryStringParameters"]["token"] = [token]
    if origin is None:
        event["headers"].pop("Origin")
        event["multiValueHeaders"].pop("Origin")
    else:
        event["headers"]["Origin"] = origin
        event["multiValueHeaders"]["Origin"] = [origin]
    return event


def connect_event(
    connection_id: str,
    *,
    user: str,
    name: str | None = None,
    rooms: Iterable[str] = (),
    roles: Iterable[str] = (),
    exp: int | None = None,
) -> dict[str, Any]:
    event = load_event("connect")
    _context_ids(event, connection_id)
    event["requestContext"]["authorizer"] = _authorizer(user, name, rooms, roles, exp)
    return event


def message_request(
    connection_id: str,
    body: Mapping[str, Any] | str | None,
    *,
    user: str,
    name: str | None = None,
    rooms: Iterable[str] = (),
    route_key: str | None = None,
    roles: Iterable[str] = (),
    exp: int | None = None,
) -> dict[str, Any]:
    """A MESSAGE event; the route key is the body's action when it names a route, as API
    Gateway selects it, else ``$default``."""
    event = load_event("message")
    _context_ids(event, connection_id)
    context = event["requestContext"]
    context["authorizer"] = _authorizer(user, name, rooms, roles, exp)
    context["messageId"] = uuid.uuid4().hex[:16]
    if isinstance(body, Mapping):
        action = body.get("action")
        event["body"] = json.dumps(body)
    else:
        action = None
        event["body"] = body
    routes = {"join", "leave", "send", "dm", "history", "typing", "who", "ping"}
    context["routeKey"] = route_key or (action if action in routes else "$default")
    return event


def disconnect_event(
    connection_id: str, *, user: str, status_code: int = 1001, reason: str = "Going away"
) -> dict[str, Any]:
    event = load_event("disconnect")
    _context_ids(event, connection_id)
    context = event["requestContext"]
    context["authorizer"] = _authorizer(user, None, ())
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return event


def lambda_stream_record(
    record: Mapping[str, Any], *, stream_arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """A DynamoDB Streams record (as boto3 returns it) in the shape Lambda delivers it."""
    out = copy.deepcopy(dict(record))
    dynamodb = out["dynamodb"]
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    out.setdefault("eventVersion", "1.1")
    out["eventSource"] = "aws:dynamodb"
    out["awsRegion"] = region
    out["eventSourceARN"] = stream_arn
    return out


def stream_event(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Records": [dict(r) for r in records]}


def sns_event(messages: Iterable[str], *, topic_arn: str | None = None) -> dict[str, Any]:
    template = load_event("sns")["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record["Sns"]["Message"] = message
        record["Sns"]["MessageId"] = str(uuid.uuid4())
        if topic_arn:
            record["Sns"]["TopicArn"] = topic_arn
            record["EventSubscriptionArn"] = f"{topic_arn}:{uuid.uuid4()}"
        records.append(record)
    return {"Records": records}


def sqs_event(bodies: Iterable[str], *, queue_arn: str | None = None) -> dict[str, Any]:
    template = load_event("sqs")["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        record["messageId"] = str(uuid.uuid4())
        record["body"] = body
        if queue_arn:
            record["eventSourceARN"] = queue_arn
        records.append(record)
    return {"Records": records}


def http_request(
    route_key: str,
    *,
    user: str,
    name: str | None = None,
    rooms: Iterable[str] = (),
    scopes: Iterable[str] = (),
    path: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | str | None = None,
    headers: Mapping[str, str] | None = None,
    authorizer: str = "lambda",
) -> dict[str, Any]:
    """An HTTP API 2.0 event for ``route_key`` (``GET /rooms/{room}/messages``), as API Gateway
    sends it after its JWT authorizer (``authorizer="jwt"``: claims as strings) or the HS256
    Lambda authorizer (``"lambda"``: its context). Keys API Gateway leaves out stay out."""
    event = load_event("http_jwt" if authorizer == "jwt" else "http_lambda")
    context = event["requestContext"]
    method, template = route_key.split(" ", 1)
    params = dict(path or {})
    raw_path = template
    for key, value in params.items():
        raw_path = raw_path.replace(f"{{{key}}}", quote(value, safe=""))
    event["routeKey"] = context["routeKey"] = route_key
    event["rawPath"] = context["http"]["path"] = raw_path
    context["http"]["method"] = method
    request_id = uuid.uuid4().hex[:16]
    context["requestId"] = request_id
    context["timeEpoch"] = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    if params:
        event["pathParameters"] = params
    else:
        event.pop("pathParameters", None)
    if query:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = urlencode(dict(query))
    else:
        event.pop("queryStringParameters", None)
        event["rawQueryString"] = ""
    event["headers"].pop("content-length", None)
    event["headers"].pop("content-type", None)
    if body is None:
        event.pop("body", None)
    else:
        text = json.dumps(body) if isinstance(body, Mapping) else body
        event["body"] = text
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(text.encode()))
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    rooms, scopes = list(rooms), list(scopes)
    if authorizer == "jwt":
        claims = context["authorizer"]["jwt"]["claims"]
        claims["sub"] = claims["username"] = user
        if name:
            claims["name"] = name
        if rooms:
            claims["rooms"] = f"[{' '.join(rooms)}]"
        else:
            claims.pop("rooms", None)
        if scopes:
            claims["scope"] = " ".join(scopes)
    else:
        lam: dict[str, Any] = {"name": name or user, "rooms": ",".join(rooms), "userId": user}
        if scopes:
            lam["scope"] = " ".join(scopes)
        context["authorizer"] = {"lambda": lam}
    return event


def http_authorizer_event(
    token: str | None, *, route_key: str = "POST /notifications"
) -> dict[str, Any]:
    """The HS256 Lambda authorizer's 2.0 input for one route (``token=None``: no header)."""
    event = load_event("http_authorizer")
    method, path = route_key.split(" ", 1)
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    arn = event["routeArn"].rsplit("/$default/", 1)[0]
    event["routeArn"] = f"{arn}/$default/{method}{path}"
    if token is None:
        event["headers"].pop("authorization")
        event["identitySource"] = [route_key]
    else:
        event["headers"]["authorization"] = f"Bearer {token}"
        event["identitySource"] = [f"Bearer {token}", route_key]
    return event
