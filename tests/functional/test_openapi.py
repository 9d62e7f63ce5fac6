"""docs/openapi.yaml stays true: a valid OpenAPI 3.1 document, the same routes, operation ids and
scopes as template.yaml, examples that fit their schemas, and the function's real answers (on
moto) that fit the schema documented for their status."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode.decode import decode_str
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chatcore.errors import CODES
from chatcore.httpapi import PUBLISH_SCOPE, ROUTE_SCOPES
from tests.support.chat import ChatHarness, Response, User

ROOT = Path(__file__).resolve().parents[2]
DOC_URI = "urn:chat:openapi"


@cache
def document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    return doc


@cache
def template_routes() -> dict[str, dict[str, Any]]:
    template, errors = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert not errors, errors
    plain = json.loads(json.dumps(template))
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in plain["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
        and r["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    }


def operations() -> dict[str, dict[str, Any]]:
    found = {}
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found[f"{method.upper()} {path}"] = operation
    return found


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    # Refs inside the document ("#/components/...") resolve against the document itself.
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(document(), default_specification=DRAFT202012)
    )
    return Draft202012Validator(_anchored(schema), registry=registry)


def _anchored(node: Any) -> Any:
    """The schema with its local refs pointing into the registered document."""
    if isinstance(node, dict):
        return {
            k: DOC_URI + v if k == "$ref" and v.startswith("#") else _anchored(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_anchored(v) for v in node]
    return node


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        _, *parts = node["$ref"].split("/")
        target: Any = document()
        for part in parts:
            target = target[part]
        node = target
    return node


def response_schema(route: str, status: int) -> dict[str, Any]:
    responses = operations()[route]["responses"]
    assert str(status) in responses, f"{route} does not document {status}"
    response = _resolve(responses[str(status)])
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


# ---- the document ----------------------------------------------------------------------------


def test_the_document_is_valid_openapi() -> None:
    validate(document())


def test_every_template_route_is_documented_and_nothing_else() -> None:
    assert set(operations()) == set(template_routes())
    for key, route in template_routes().items():
        assert operations()[key]["operationId"] == route["OperationName"], key


def test_documented_scopes_are_the_route_scopes() -> None:
    for key, operation in operations().items():
        security = operation.get("security", document()["security"])
        scopes = {s for requirement in security for s in requirement.get("oauth2", [])}
        expected = set(ROUTE_SCOPES.get(key, ()))
        if key == "POST /rooms/{room}/messages":
            expected = {PUBLISH_SCOPE}  # optional: users need none, services have it
        assert scopes == expected, key


def test_error_codes_are_the_stable_ones() -> None:
    codes = document()["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert codes == list(CODES)


def _examples() -> list[tuple[str, dict[str, Any], Any]]:
    found = []
    for key, operation in operations().items():
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            found.append((f"{key} request", body["schema"], body["example"]))
        for status, response in operation["responses"].items():
            content = _resolve(response).get("content", {}).get("application/json")
            if content:
                found.append((f"{key} {status}", content["schema"], content["example"]))
    return found


@pytest.mark.parametrize(("where", "schema", "example"), _examples(), ids=lambda v: str(v)[:60])
def test_every_example_fits_its_schema(where: str, schema: dict[str, Any], example: Any) -> None:
    errors = [e.message for e in validator(schema).iter_errors(example)]
    assert errors == [], where


# ---- the function's real answers -------------------------------------------------------------

ALICE = User("alice", "Alice", ("private:ops",))
BOB = User("bob", "Bob")
OPS = User("ops-service", "Ops")


def assert_documented(route: str, response: Response, status: int) -> None:
    assert response.status == status, response
    errors = [
        e.message for e in validator(response_schema(route, status)).iter_errors(response.body)
    ]
    assert errors == [], (route, response.body)


def test_real_answers_fit_the_documented_schemas(chat: ChatHarness) -> None:
    publish, history = "POST /rooms/{room}/messages", "GET /rooms/{room}/messages"
    lobby = {"room": "lobby"}
    chat.connect("c-alice", ALICE)
    ids = []
    for i in range(3):
        answer = chat.http(publish, ALICE, path=lobby, body={"text": f"m{i}", "ref": f"r{i}"})
        assert_documented(publish, answer, 201)
        ids.append(answer.body["id"])
    page = chat.http(history, BOB, path=lobby, query={"limit": "2"})
    assert_documented(history, page, 200)
    assert page.body["next"] is not None
    # Edited, reacted-to and deleted messages as history shows them.
    changes = [
        {"action": "edit", "room": "lobby", "id": ids[0], "text": "m0 fixed"},
        {"action": "react", "room": "lobby", "id": ids[0], "emoji": "👍"},
        {"action": "delete", "room": "lobby", "id": ids[1]},
    ]
    for frame in changes:
        assert "code" not in chat.reply("c-alice", frame), frame
    page = chat.http(history, BOB, path=lobby)
    assert_documented(history, page, 200)
    edited, tombstone, _plain = page.body["messages"]
    assert (edited["version"], edited["reactions"]) == (1, {"👍": 1})
    assert tombstone == {
        "type": "message",
        "id": ids[1],
        "room": "lobby",
        "seq": 2,
        "deleted": True,
    }
    assert_documented(history, chat.http(history, BOB, path={"room": "empty"}), 404)
    assert_documented(history, chat.http(history, BOB, path=lobby, query={"cursor": "x"}), 400)
    assert_documented(
        "GET /rooms/{room}/members", chat.http("GET /rooms/{room}/members", BOB, path=lobby), 200
    )
    assert_documented("GET /me", chat.http("GET /me", ALICE), 200)
    assert chat.reply("c-alice", {"action": "join", "room": "lobby"})["type"] == "joined"
    assert_documented("GET /me/rooms", chat.http("GET /me/rooms", ALICE), 200)
    for body, status in (({"text": ""}, 400), ({"text": "x" * 5000}, 413)):
        assert_documented(publish, chat.http(publish, ALICE, path=lobby, body=body), status)
    private = chat.http(publish, BOB, path={"room": "private:ops"}, body={"text": "x"})
    assert_documented(publish, private, 403)
    notify = {"targets": {"users": ["alice"]}, "payload": {"k": 1}}
    answer = chat.http("POST /notifications", OPS, body=notify, scopes=["chat/notify"])
    assert_documented("POST /notifications", answer, 202)
    answer = chat.http("POST /notifications", BOB, body=notify)
    assert_documented("POST /notifications", answer, 403)
    disconnect = "POST /users/{user}/disconnect"
    answer = chat.http(disconnect, OPS, path={"user": "alice"}, scopes=["chat/admin"])
    assert_documented(disconnect, answer, 200)
    broken = chat.http(
        publish, ALICE, path=lobby, body={"text": "x"}, env={"MESSAGES_TABLE": "gone"}
    )
    assert_documented(publish, broken, 500)
    limited = [
        chat.http(publish, BOB, path=lobby, body={"text": "x"}, env={"SEND_RATE_PER_SECOND": "1"})
        for _ in range(3)
    ]
    assert_documented(publish, next(a for a in limited if a.status == 429), 429)
