"""The connection lifecycle table: $disconnect runs once, refusals keep nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from local.gateway.integration import (
    authorizer_verdict,
    connect_verdict,
    missing_identity,
    route_reply,
)
from local.gateway.lifecycle import TRANSITIONS, Ending, InvalidTransition, Lifecycle, Signal, State
from local.gateway.throttle import TokenBucket


def test_only_the_first_ending_of_an_open_connection_runs_disconnect() -> None:
    life = Lifecycle()
    assert not life.apply(Signal.ACCEPTED)
    assert life.apply(Signal.ENDED, Ending.deleted()) is True
    assert life.apply(Signal.ENDED, Ending.shutdown()) is False
    assert life.ending == Ending.deleted()
    assert life.state is State.CLOSING
    assert not life.apply(Signal.DISCONNECTED)
    assert life.state is State.CLOSED
    assert life.apply(Signal.ENDED, Ending.dropped()) is False


@pytest.mark.parametrize("signal", [Signal.REFUSED, Signal.ENDED])
def test_a_connection_that_never_opened_gets_no_disconnect(signal: Signal) -> None:
    life = Lifecycle()
    assert life.apply(signal) is False
    assert life.state is State.CLOSED


def test_every_state_is_reachable_and_bad_signals_are_bugs() -> None:
    assert {state for state, _ in TRANSITIONS} == set(State)
    life = Lifecycle()
    with pytest.raises(InvalidTransition):
        life.apply(Signal.DISCONNECTED)


def test_endings_report_api_gateways_codes() -> None:
    assert Ending.client_close(None, "") == Ending(1005, "Client-side close frame status not set")
    assert Ending.client_close(1000, "") == Ending(1000, "Connection Closed Normally")
    assert Ending.client_close(4000, "bye") == Ending(4000, "bye")
    assert Ending.idle() == Ending(1001, "Going away") == Ending.max_duration()
    assert Ending.too_large().status_code == 1009
    assert Ending.dropped().status_code == 1006


@dataclass
class FakeResult:
    ok: bool
    payload: Any
    error: dict[str, Any] | None
    request_id: str
    duration_ms: float


def ok(payload: object) -> FakeResult:
    return FakeResult(True, payload, None, "rid", 1.0)


def failed(message: str) -> FakeResult:
    return FakeResult(False, None, {"errorType": "Exception", "errorMessage": message}, "rid", 1.0)


ARN = "arn:aws:execute-api:us-east-1:123456789012:a/dev/$connect"
ALLOW = {
    "principalId": "u",
    "policyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": ARN}]},
}


def test_authorizer_verdicts() -> None:
    assert authorizer_verdict(failed("Unauthorized"), ARN).status == 401
    assert authorizer_verdict(failed("KeyError: 'x'"), ARN).status == 500
    assert authorizer_verdict(ok({"principalId": "u"}), ARN).status == 500
    deny = {
        **ALLOW,
        "policyDocument": {
            "Statement": [{**ALLOW["policyDocument"]["Statement"][0], "Effect": "Deny"}]
        },
    }  # type: ignore[index]
    assert authorizer_verdict(ok(deny), ARN).status == 403
    verdict = authorizer_verdict(ok(ALLOW), ARN)
    assert (verdict.status, verdict.principal_id) == (200, "u")


def test_connect_verdicts() -> None:
    assert connect_verdict(ok({"statusCode": 200})).ok
    assert connect_verdict(ok({"statusCode": "204"})).ok
    assert connect_verdict(ok({"statusCode": 409})).status == 409
    assert connect_verdict(ok(None)).status == 502
    assert connect_verdict(failed("boom")).status == 502


def test_route_replies() -> None:
    assert route_reply(failed("x"), two_way=True).failed
    assert route_reply(ok({"statusCode": 200, "body": "hi"}), two_way=False).frame is None
    assert route_reply(ok({"statusCode": 200, "body": "hi"}), two_way=True).frame == "hi"
    assert route_reply(ok({"body": {"a": 1}}), two_way=True).frame == '{"a": 1}'
    assert (
        route_reply(ok({"body": "AAE=", "isBase64Encoded": True}), two_way=True).frame
        == b"\x00\x01"
    )
    assert route_reply(ok({"statusCode": 200}), two_way=True).frame is None


def test_missing_identity_sources() -> None:
    sources = ["route.request.querystring.token", "route.request.header.X-Key"]
    assert missing_identity(sources, {"x-key": "k"}, {"token": "t"}) is None
    assert missing_identity(sources, {"x-key": "k"}, {}) == sources[0]
    assert missing_identity(sources, {}, {"token": "t"}) == sources[1]
    assert missing_identity(sources, {"X-Key": ""}, {"token": "t"}) == sources[1]


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(burst=2, rate=1.0, clock=lambda: now[0])
    assert bucket.take() and bucket.take() and not bucket.take()
    now[0] = 1.0
    assert bucket.take() and not bucket.take()
    assert TokenBucket(burst=None, rate=None).take()
