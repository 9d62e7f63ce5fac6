"""chatcore.http_request: the caller of an HTTP API route comes only from its authorizer."""

from __future__ import annotations

import base64
import json

import pytest

from chatcore.auth import AuthError, Identity
from chatcore.errors import TooLarge
from chatcore.http_request import HttpRequest, error_response, identity_from_authorizer


def test_jwt_authorizer_claims_arrive_as_strings_and_arrays_as_bracketed_lists() -> None:
    authorizer = {
        "jwt": {
            "claims": {"sub": "alice", "name": "Alice", "rooms": "[private:ops lobby private:x]"},
            "scopes": None,
        }
    }
    assert identity_from_authorizer(authorizer) == Identity(
        user_id="alice", name="Alice", rooms=("private:ops", "private:x")
    )


def test_a_json_array_claim_is_read_too() -> None:
    claims = {"sub": "bob", "rooms": json.dumps(["private:a"])}
    assert identity_from_authorizer({"jwt": {"claims": claims}}).rooms == ("private:a",)


def test_lambda_authorizer_context_is_the_websocket_one() -> None:
    context = Identity(user_id="carol", name="Carol", rooms=("private:z",)).to_context()
    assert identity_from_authorizer({"lambda": context}) == Identity(
        user_id="carol", name="Carol", rooms=("private:z",)
    )


@pytest.mark.parametrize("authorizer", [None, {}, {"jwt": {"claims": {}}}, {"iam": {}}])
def test_no_authorizer_identity_is_an_auth_error(authorizer: dict[str, object] | None) -> None:
    with pytest.raises(AuthError):
        identity_from_authorizer(authorizer)


def test_the_request_view_reads_a_2_0_event_and_decodes_base64_bodies() -> None:
    event = {
        "version": "2.0",
        "routeKey": "POST /rooms/{room}/attachments",
        "rawPath": "/dev/rooms/lobby/attachments",
        "headers": {"Accept": "application/json"},
        "pathParameters": {"room": "lobby"},
        "body": base64.b64encode(b'{"name": "a"}').decode(),
        "isBase64Encoded": True,
        "requestContext": {
            "requestId": "r1",
            "http": {"method": "POST", "path": "/dev/rooms/lobby/attachments"},
            # A header cannot make anyone someone else: only the authorizer counts.
            "authorizer": {"lambda": {"userId": "alice", "name": "Alice", "rooms": ""}},
        },
    }
    request = HttpRequest.from_event(event)
    assert request.json_body() == {"name": "a"}
    assert request.wants_json()
    assert request.identity().user_id == "alice"
    assert request.path_parameters == {"room": "lobby"}


def test_errors_are_json_with_the_status_of_their_code() -> None:
    response = error_response(TooLarge("too big"))
    assert response["statusCode"] == 413
    assert json.loads(response["body"]) == {"code": "too_large", "message": "too big"}
