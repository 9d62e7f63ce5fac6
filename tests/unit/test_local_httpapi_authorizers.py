"""Lambda REQUEST authorizers (payload 2.0) and route throttling of the local HTTP API (pure)."""

from __future__ import annotations

from local.httpapi.events import HttpRequest
from local.httpapi.lambda_authorizer import AuthorizerCache, identity_values, lambda_verdict
from local.httpapi.throttling import RouteThrottles
from local.model import ThrottleSpec

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/keys"


def request(*headers: tuple[str, str], query: str = "") -> HttpRequest:
    return HttpRequest(method="GET", path="/keys", query=query, headers=headers)


def test_identity_sources_are_read_from_headers_query_and_stage() -> None:
    sources = ["$request.header.Authorization", "$request.querystring.team", "$stageVariables.env"]
    values, lacking = identity_values(
        sources,
        request(("authorization", "k1"), query="team=a&team=b"),
        stage_variables={"env": "dev"},
        context={},
    )
    assert (values, lacking) == (["k1", "a,b", "dev"], None)
    values, lacking = identity_values(
        sources, request(query="team=a"), stage_variables={"env": "dev"}, context={}
    )
    assert (values, lacking) == (None, "$request.header.Authorization")
    values, lacking = identity_values(
        ["$request.header.X-Key"], request(("X-Key", "")), stage_variables={}, context={}
    )
    assert lacking == "$request.header.X-Key"  # empty counts as missing


def test_simple_responses() -> None:
    allowed = lambda_verdict(
        True, {"isAuthorized": True, "context": {"a": {"b": 1}}}, None, simple=True, route_arn=ARN
    )
    assert allowed.ok and allowed.authorizer_context() == {"lambda": {"a": {"b": 1}}}
    assert (
        lambda_verdict(True, {"isAuthorized": False}, None, simple=True, route_arn=ARN).status
        == 403
    )
    assert (
        lambda_verdict(True, {"isAuthorized": "yes"}, None, simple=True, route_arn=ARN).status
        == 500
    )
    assert (
        lambda_verdict(
            True, {"isAuthorized": True, "context": []}, None, simple=True, route_arn=ARN
        ).status
        == 500
    )


def test_iam_policy_responses_are_matched_against_the_route_arn() -> None:
    def answer(effect: str, resource: str) -> dict[str, object]:
        statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
        return {
            "principalId": "p",
            "policyDocument": {"Statement": [statement]},
            "context": {"who": "svc"},
        }

    allowed = lambda_verdict(True, answer("Allow", ARN), None, simple=False, route_arn=ARN)
    assert allowed.ok and allowed.authorizer_context() == {"lambda": {"who": "svc"}}
    wildcard = answer("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc/*/GET/*")
    assert lambda_verdict(True, wildcard, None, simple=False, route_arn=ARN).ok
    other = answer("Allow", ARN.replace("/keys", "/other"))
    assert lambda_verdict(True, other, None, simple=False, route_arn=ARN).status == 403
    assert (
        lambda_verdict(True, answer("Deny", ARN), None, simple=False, route_arn=ARN).status == 403
    )
    assert (
        lambda_verdict(True, {"principalId": "p"}, None, simple=False, route_arn=ARN).status == 500
    )


def test_authorizer_errors() -> None:
    unauthorized = {"errorType": "Exception", "errorMessage": "Unauthorized"}
    assert lambda_verdict(False, None, unauthorized, simple=True, route_arn=ARN).status == 401
    boom = {"errorType": "KeyError", "errorMessage": "'x'"}
    assert lambda_verdict(False, None, boom, simple=True, route_arn=ARN).status == 500


def test_results_are_cached_by_identity_for_the_ttl() -> None:
    now = [100.0]
    cache = AuthorizerCache(clock=lambda: now[0])
    cache.put("Keys", ["k1"], 300, ok=True, payload={"isAuthorized": True}, error=None)
    cache.put("Keys", ["k2"], 0, ok=True, payload={"isAuthorized": True}, error=None)
    cache.put("Keys", [], 300, ok=True, payload={"isAuthorized": True}, error=None)
    assert cache.get("Keys", ["k1"]) is not None
    assert cache.get("Other", ["k1"]) is None
    assert cache.get("Keys", ["k2"]) is None  # a TTL of 0 caches nothing
    assert cache.get("Keys", []) is None  # nothing to key on: never cached
    now[0] += 300
    assert cache.get("Keys", ["k1"]) is None


def test_route_throttles() -> None:
    now = [0.0]
    throttles = RouteThrottles(
        ThrottleSpec(burst=2, rate=1.0),
        {"GET /hot": ThrottleSpec(burst=1, rate=0.0)},
        clock=lambda: now[0],
    )
    assert [throttles.take("GET /a") for _ in range(3)] == [True, True, False]
    assert throttles.take("GET /b")  # each route has its own bucket of the default limits
    assert [throttles.take("GET /hot") for _ in range(2)] == [True, False]
    now[0] += 1.0
    assert throttles.take("GET /a") and not throttles.take("GET /hot")


def test_settings_without_limits_throttle_everything_and_no_settings_nothing() -> None:
    trap = RouteThrottles(ThrottleSpec(burst=0, rate=0.0), {})
    assert not trap.take("GET /anything")
    free = RouteThrottles(None, {})
    assert all(free.take("GET /x") for _ in range(100))
