"""The HTTP API's pure parts: the 2.0 request view, claims as strings, inputs, cursors, errors,
and the HS256 Lambda authorizer's decision."""

from __future__ import annotations

import json
import time

import pytest

from chatcore.auth import Identity, TokenVerifier, identity_from_claims, mint_token, parse_scopes
from chatcore.errors import CODES, BadRequest, Forbidden, RateLimited, TooLarge
from chatcore.httpapi import (
    ROUTE_SCOPES,
    STATUS_BY_CODE,
    HttpRequest,
    decode_cursor,
    encode_cursor,
    error_response,
    history_input,
    next_cursor,
    publish_input,
    require_scope,
)
from chatcore.httpauth import HttpAuthorizerRequest, authorize_route, bearer_token
from chatcore.protocol import History, Limits
from tests.support.events import http_authorizer_event, http_request, load_event

SECRET = "k" * 32
LIMITS = Limits()


def request(route: str = "POST /rooms/{room}/messages", **options: object) -> HttpRequest:
    options.setdefault("user", "alice")
    return HttpRequest.from_event(http_request(route, **options))  # type: ignore[arg-type]


# ---- the request view ------------------------------------------------------------------------


def test_the_captured_jwt_event_gives_the_identity_from_string_claims() -> None:
    parsed = HttpRequest.from_event(load_event("http_jwt"))
    assert parsed.route_key == "POST /rooms/{room}/messages"
    assert parsed.path_parameters == {"room": "lobby"}
    assert parsed.identity == Identity(
        user_id="alice",
        name="alice",
        rooms=("private:ops",),
        scopes=("aws.cognito.signin.user.admin",),
    )


def test_the_captured_lambda_event_gives_the_authorizer_context_identity() -> None:
    parsed = HttpRequest.from_event(load_event("http_lambda"))
    assert parsed.query == {"limit": "2"}
    assert parsed.identity == Identity(user_id="alice", name="Alice", rooms=("private:ops",))


def test_no_authorizer_means_no_identity() -> None:
    event = load_event("http_lambda")
    del event["requestContext"]["authorizer"]
    assert HttpRequest.from_event(event).identity is None


def test_base64_bodies_are_decoded() -> None:
    event = http_request("POST /notifications", user="svc", body='{"a": 1}')
    event["body"] = "eyJhIjogMX0="
    event["isBase64Encoded"] = True
    assert HttpRequest.from_event(event).body == '{"a": 1}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[private:a private:b]", ("private:a", "private:b")),
        ('["private:a","private:b"]', ("private:a", "private:b")),
        ("private:a", ("private:a",)),
        ("", ()),
    ],
)
def test_list_claims_as_api_gateway_passes_them(value: str, expected: tuple[str, ...]) -> None:
    identity = identity_from_claims({"sub": "alice", "rooms": value})
    assert identity.rooms == expected


def test_scopes_come_from_scope_scp_or_the_bracketed_form() -> None:
    assert parse_scopes("chat/notify chat/admin") == ("chat/notify", "chat/admin")
    assert parse_scopes(["chat/notify"]) == ("chat/notify",)
    assert parse_scopes("[chat/notify chat/publish]") == ("chat/notify", "chat/publish")
    assert parse_scopes(None) == ()
    claims = {"sub": "svc", "scp": ["chat/publish"]}
    assert identity_from_claims(claims).scopes == ("chat/publish",)


def test_jwt_scopes_of_a_scoped_route_count_when_claims_have_none() -> None:
    event = http_request("POST /notifications", user="svc", authorizer="jwt")
    event["requestContext"]["authorizer"]["jwt"]["claims"].pop("scope")
    event["requestContext"]["authorizer"]["jwt"]["scopes"] = ["chat/notify"]
    identity = HttpRequest.from_event(event).caller()
    assert identity.scopes == ("chat/notify",)


# ---- inputs ----------------------------------------------------------------------------------


def test_publish_input_takes_the_idempotency_key_as_the_ref() -> None:
    given = publish_input(
        request(path={"room": "lobby"}, body={"text": "hi"}, headers={"Idempotency-Key": "k1"}),
        limits=LIMITS,
    )
    assert (given.room, given.text, given.ref) == ("lobby", "hi", "k1")


def test_a_long_idempotency_key_is_refused_by_its_name() -> None:
    with pytest.raises(BadRequest, match="Idempotency-Key"):
        publish_input(
            request(
                path={"room": "lobby"}, body={"text": "hi"}, headers={"Idempotency-Key": "k" * 65}
            ),
            limits=LIMITS,
        )


def test_publish_input_decodes_an_encoded_room() -> None:
    event = http_request("POST /rooms/{room}/messages", user="a", body={"text": "x"})
    event["pathParameters"] = {"room": "private%3Aops"}
    assert publish_input(HttpRequest.from_event(event), limits=LIMITS).room == "private:ops"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", BadRequest),
        ('"a string"', BadRequest),
        ({"text": ""}, BadRequest),
        ({"text": "x", "ref": ""}, BadRequest),
        ({"text": "x" * 4001}, TooLarge),
        ("x" * 300_000, TooLarge),
    ],
)
def test_publish_input_refusals(body: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        publish_input(request(path={"room": "lobby"}, body=body), limits=LIMITS)


def test_history_input_reads_the_query_or_a_cursor() -> None:
    get = "GET /rooms/{room}/messages"
    frame = history_input(
        request(get, path={"room": "lobby"}, query={"after": "3", "limit": "10"}), limits=LIMITS
    )
    assert (frame.after, frame.before, frame.limit) == (3, None, 10)
    cursor = encode_cursor("before", 42)
    frame = history_input(
        request(get, path={"room": "lobby"}, query={"cursor": cursor}), limits=LIMITS
    )
    assert (frame.after, frame.before, frame.limit) == (None, 42, 100)
    with pytest.raises(BadRequest, match="before"):
        history_input(
            request(get, path={"room": "lobby"}, query={"after": "5", "before": "5"}),
            limits=LIMITS,
        )


# ---- cursors ---------------------------------------------------------------------------------


def test_cursors_round_trip_and_refuse_forgeries() -> None:
    assert decode_cursor(encode_cursor("after", 7)) == ("after", 7)
    assert decode_cursor(encode_cursor("before", 0)) == ("before", 0)
    for bad in ("", "!!!", encode_cursor("sideways", 1), "eyJkIjoiYWZ0ZXIiLCJzIjotMX0"):
        with pytest.raises(BadRequest):
            decode_cursor(bad)


def _messages(*seqs: int) -> list[dict[str, int]]:
    return [{"seq": s} for s in seqs]


def test_next_cursor_goes_back_from_the_first_or_on_from_the_last() -> None:
    back = History(room="r", limit=2)
    assert decode_cursor(next_cursor(back, _messages(4, 5)) or "") == ("before", 4)
    assert next_cursor(back, _messages(5)) is None  # a short page is the last
    assert next_cursor(back, _messages(1, 2)) is None  # nothing before seq 1
    forward = History(room="r", limit=2, after=0)
    assert decode_cursor(next_cursor(forward, _messages(1, 2)) or "") == ("after", 2)
    assert next_cursor(forward, []) is None


# ---- errors and scopes -----------------------------------------------------------------------


def test_every_stable_code_has_a_status() -> None:
    assert set(CODES) <= set(STATUS_BY_CODE)
    assert {STATUS_BY_CODE[c] for c in CODES} <= {400, 403, 404, 409, 410, 413, 429, 500}


def test_error_responses_are_code_and_message_with_retry_after_on_429() -> None:
    answer = error_response(RateLimited("slow down"))
    assert answer["statusCode"] == 429
    assert answer["headers"]["retry-after"] == "1"
    assert json.loads(answer["body"]) == {"code": "rate_limited", "message": "slow down"}
    assert error_response(Forbidden("no"))["statusCode"] == 403


def test_require_scope_guards_only_the_service_routes() -> None:
    user = Identity(user_id="alice", name="Alice")
    require_scope(user, "GET /me")
    for route, scopes in ROUTE_SCOPES.items():
        with pytest.raises(Forbidden):
            require_scope(user, route)
        require_scope(Identity(user_id="svc", name="svc", scopes=scopes), route)


# ---- the HS256 Lambda authorizer's decision --------------------------------------------------


def test_bearer_token_reads_only_the_bearer_scheme() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") == ""
    assert bearer_token(None) == ""


def test_authorize_route_checks_token_then_scopes() -> None:
    verifier = TokenVerifier(algorithm="HS256", secret=SECRET)
    notifier = mint_token(SECRET, sub="svc", scopes=["chat/notify"])
    allowed, _ = authorize_route(
        HttpAuthorizerRequest.from_event(http_authorizer_event(notifier)), verifier
    )
    assert allowed == {
        "isAuthorized": True,
        "context": {"userId": "svc", "name": "svc", "rooms": "", "scope": "chat/notify"},
    }
    plain = mint_token(SECRET, sub="alice")
    refused, reason = authorize_route(
        HttpAuthorizerRequest.from_event(http_authorizer_event(plain)), verifier
    )
    assert refused == {"isAuthorized": False}
    assert reason == "missing scope chat/notify"
    expired = mint_token(SECRET, sub="alice", now=time.time() - 7200)
    refused, reason = authorize_route(
        HttpAuthorizerRequest.from_event(http_authorizer_event(expired, route_key="GET /me")),
        verifier,
    )
    assert refused == {"isAuthorized": False}
    assert "Expired" in reason and expired not in reason
