"""Drive the handlers on moto the way API Gateway and Lambda would, and see what they post.

``ChatHarness`` invokes ``functions/<name>/app.py`` handlers with each function's own environment
from ``template.yaml`` (through the ``function_env`` fixture), installs a ``FakeManagementApi``
as the ``@connections`` client (``chatcore.clients.management_factory``), and pumps the
MessagesTable stream from moto into the broadcast handler through the template's FilterCriteria.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from chatcore import clients
from local.model import Stack
from local.sources.filters import matches_any, parse_filter_criteria
from tests.support.events import (
    connect_event,
    disconnect_event,
    http_request,
    lambda_stream_record,
    message_request,
    stream_event,
)
from tests.support.handlers import FakeManagementApi, LambdaContext, load_handler

__all__ = ["FUNCTIONS", "ChatHarness", "Response", "User", "harness"]

FUNCTIONS = {
    "authorizer": "AuthorizerFunction",
    "connect": "ConnectFunction",
    "disconnect": "DisconnectFunction",
    "chat": "ChatFunction",
    "broadcast": "BroadcastFunction",
    "notify": "NotifyFunction",
    "fanout": "FanoutFunction",
    "http": "HttpFunction",
    "attachments": "AttachmentsFunction",
    "attachment_check": "AttachmentCheckFunction",
    "sweep": "SweepFunction",
}


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class User:
    id: str
    name: str
    rooms: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    exp: int | None = None  # the token's exp, as the authorizer puts it in the context


class ChatHarness:
    def __init__(
        self,
        *,
        envs: Mapping[str, Mapping[str, str]],
        stack: Stack,
        resources: Mapping[str, str],
        api: FakeManagementApi,
    ) -> None:
        self.envs = envs
        self.stack = stack
        self.resources = resources
        self.api = api
        self.users: dict[str, User] = {}
        self._stream_seen: set[str] = set()
        self.dynamodb = boto3.client("dynamodb")

    # ---- invoking handlers --------------------------------------------------------------

    def invoke(self, name: str, event: dict[str, Any], **env: str) -> Any:
        """Call one handler with exactly its function's environment (plus ``env``)."""
        mine = {**self.envs[FUNCTIONS[name]], **env}
        others = {k for e in self.envs.values() for k in e} - set(mine)
        saved = {k: os.environ.get(k) for k in set(mine) | others}
        try:
            for key in others:
                os.environ.pop(key, None)
            os.environ.update(mine)
            return load_handler(name)(event, LambdaContext(function_name=name))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def connect(self, connection_id: str, user: User) -> Any:
        self.users[connection_id] = user
        return self.invoke(
            "connect",
            connect_event(
                connection_id,
                user=user.id,
                name=user.name,
                rooms=user.rooms,
                roles=user.roles,
                exp=user.exp,
            ),
        )

    def disconnect(self, connection_id: str) -> Any:
        user = self.users[connection_id]
        return self.invoke("disconnect", disconnect_event(connection_id, user=user.id))

    def say(
        self, connection_id: str, body: Mapping[str, Any] | str | None, **env: str
    ) -> list[dict[str, Any]]:
        """Send one frame from a connection; return what was posted back to that connection."""
        user = self.users[connection_id]
        before = len(self.api.posted.get(connection_id, []))
        event = message_request(
            connection_id,
            body,
            user=user.id,
            name=user.name,
            rooms=user.rooms,
            roles=user.roles,
            exp=user.exp,
        )
        assert self.invoke("chat", event, **env) == {"statusCode": 200}
        return self.api.events(connection_id)[before:]

    def reply(self, connection_id: str, body: Mapping[str, Any] | str | None) -> dict[str, Any]:
        """The one reply to a frame."""
        replies = self.say(connection_id, body)
        assert len(replies) == 1, replies
        return replies[0]

    def http(self, route_key: str, user: User, **options: Any) -> Response:
        """Call the HTTP API function with a 2.0 event for ``route_key`` from ``user`` (options
        as ``tests.support.events.http_request``); return the status and the decoded body."""
        scopes = options.pop("scopes", ())
        env = options.pop("env", {})
        event = http_request(
            route_key, user=user.id, name=user.name, rooms=user.rooms, scopes=scopes, **options
        )
        answer = self.invoke("http", event, **env)
        return Response(
            status=answer["statusCode"],
            body=json.loads(answer["body"]) if answer.get("body") else None,
            headers=answer.get("headers", {}),
        )

    # ---- the MessagesTable stream -------------------------------------------------------

    def stream_records(self) -> list[dict[str, Any]]:
        """New stream records since the last call, as Lambda would deliver them to broadcast
        (the template's FilterCriteria applied)."""
        table = self.resources["MessagesTable"]
        stream_arn = self.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        streams = boto3.client("dynamodbstreams")
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
            for raw in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
                number = raw["dynamodb"]["SequenceNumber"]
                if number in self._stream_seen:
                    continue
                self._stream_seen.add(number)
                records.append(lambda_stream_record(raw, stream_arn=stream_arn))
        patterns = parse_filter_criteria(self._broadcast_filter())
        return [r for r in records if matches_any(patterns, r)]

    def _broadcast_filter(self) -> Any:
        for source in self.stack.functions["BroadcastFunction"].events:
            if source.type == "DynamoDB":
                return source.properties.get("FilterCriteria")
        return None

    def pump(self) -> Any:
        """Deliver the new stream records to the broadcast handler; return its answer."""
        records = self.stream_records()
        if not records:
            return {"batchItemFailures": []}
        return self.invoke("broadcast", stream_event(records))

    def types(self, connection_id: str) -> list[str]:
        return [e["type"] for e in self.api.events(connection_id)]


@contextmanager
def harness(
    function_env: Callable[[str], dict[str, str]],
    *,
    stack: Stack,
    resources: Mapping[str, str],
    functions: Iterable[str] = FUNCTIONS.values(),
) -> Iterator[ChatHarness]:
    envs = {logical_id: dict(function_env(logical_id)) for logical_id in functions}
    clients.reset()
    api = FakeManagementApi()
    clients.management_factory = api.factory
    try:
        yield ChatHarness(envs=envs, stack=stack, resources=resources, api=api)
    finally:
        clients.management_factory = None
        clients.reset()
