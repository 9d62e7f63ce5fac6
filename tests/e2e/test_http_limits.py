"""The HTTP API of template.yaml deployed with an origin allowlist and a send budget of one
message per user, room and second: CORS refusals and the budget's 429, through the whole stack.

Its own stack (parameter overrides, as ``sam deploy --parameter-overrides`` would set them), so
the shared ``chat_stack`` keeps the defaults.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from local.testing import HttpAnswer, StackThread
from tests.e2e.conftest import CHAT_CONFIG, CHAT_TEMPLATE, running_stack

ALLOWED = "https://chat.example.com"


@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackThread]:
    log_path = tmp_path_factory.mktemp("strict-stack") / "stack.log"
    overrides = {"AllowedOrigins": ALLOWED, "SendRatePerSecond": "1"}
    with running_stack(
        CHAT_TEMPLATE, log_path, config=CHAT_CONFIG, parameter_overrides=overrides
    ) as running:
        yield running


def preflight(stack: StackThread, origin: str) -> HttpAnswer:
    return stack.request(
        "OPTIONS",
        "/rooms/lobby/messages",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def test_cors_allows_the_configured_origin_and_no_other(strict_stack: StackThread) -> None:
    allowed = preflight(strict_stack, ALLOWED)
    assert allowed.status == 204, allowed
    assert allowed.header("access-control-allow-origin") == ALLOWED
    assert "authorization" in (allowed.header("access-control-allow-headers") or "").lower()

    refused = preflight(strict_stack, "https://evil.example")
    assert refused.header("access-control-allow-origin") is None, refused.headers
    # A real request from the refused origin still runs (CORS is the browser's to enforce),
    # but carries no grant a browser would accept.
    token = strict_stack.local_token("ada")
    answer = strict_stack.request(
        "GET", "/me", token=token, headers={"Origin": "https://evil.example"}
    )
    assert answer.status == 200 and answer.header("access-control-allow-origin") is None
    answer = strict_stack.request("GET", "/me", token=token, headers={"Origin": ALLOWED})
    assert answer.header("access-control-allow-origin") == ALLOWED


def test_publishing_over_the_budget_is_429_rate_limited(strict_stack: StackThread) -> None:
    # One per second: of ten quick publishes at least two share a second unless each took
    # almost a second. Stop at the first refusal.
    room = f"budget-{uuid.uuid4().hex[:8]}"
    token = strict_stack.local_token("ada")
    answers: list[HttpAnswer] = []
    for n in range(10):
        answers.append(
            strict_stack.request(
                "POST", f"/rooms/{room}/messages", token=token, json_body={"text": f"m{n}"}
            )
        )
        if answers[-1].status != 201:
            break
    refused = answers[-1]
    assert refused.status == 429, answers
    assert refused.json()["code"] == "rate_limited" and set(refused.json()) == {"code", "message"}
    assert refused.header("retry-after") == "1"
    page = strict_stack.request("GET", f"/rooms/{room}/messages", token=token).json()
    assert len(page["messages"]) == len(answers) - 1  # nothing stored for the refusal
    # Another user of the same room has a budget of their own.
    other = strict_stack.local_token("bob")
    assert (
        strict_stack.request(
            "POST", f"/rooms/{room}/messages", token=other, json_body={"text": "bob"}
        ).status
        == 201
    )
