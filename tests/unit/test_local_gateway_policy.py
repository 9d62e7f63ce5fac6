"""Authorizer policies evaluated against the method ARN, as API Gateway does."""

from __future__ import annotations

from typing import Any

import pytest

from local.gateway.policy import Decision, MalformedAnswer, evaluate, matches

ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/dev/$connect"


def answer(*statements: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return {
        "principalId": "alice",
        "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
        "context": context if context is not None else {"userId": "alice"},
    }


def stmt(effect: str, resource: Any, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("statements", "decision"),
    [
        ([stmt("Allow", ARN)], Decision.ALLOW),
        ([stmt("Deny", ARN)], Decision.DENY),
        (
            [stmt("Allow", "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*")],
            Decision.ALLOW,
        ),
        ([stmt("Allow", "arn:aws:execute-api:*:*:*/dev/$connect")], Decision.ALLOW),
        (
            [stmt("Allow", "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e?/dev/*")],
            Decision.ALLOW,
        ),
        (
            [stmt("Allow", "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*")],
            Decision.DENY,
        ),
        (
            [stmt("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/dev/$connect")],
            Decision.DENY,
        ),
        ([stmt("Allow", "*"), stmt("Deny", ARN)], Decision.DENY),  # explicit deny wins
        ([stmt("Deny", "*/prod/*"), stmt("Allow", "*")], Decision.ALLOW),
        ([stmt("Allow", [ARN, "x"])], Decision.ALLOW),
        ([stmt("Allow", ARN, action="execute-api:*")], Decision.ALLOW),
        ([stmt("Allow", ARN, action="*")], Decision.ALLOW),
        ([stmt("Allow", ARN, action="execute-api:ManageConnections")], Decision.DENY),
        ([stmt("Allow", ARN, action=["s3:GetObject", "execute-api:invoke"])], Decision.ALLOW),
    ],
)
def test_decision(statements: list[dict[str, Any]], decision: Decision) -> None:
    result = evaluate(answer(*statements), ARN)
    assert result.decision is decision
    assert result.principal_id == "alice"
    assert result.context == {"userId": "alice"}


def test_wildcards_are_iam_ones_only() -> None:
    assert matches("a*c", "abbbc") and matches("a?c", "abc") and not matches("a?c", "abbc")
    assert not matches("a[b]c", "abc") and matches("a[b]c", "a[b]c")
    assert not matches("ARN", "arn")


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "Allow",
        {"principalId": "x"},
        {"principalId": "x", "policyDocument": {"Statement": []}},
        answer(stmt("Maybe", ARN)),
        answer(stmt("Allow", ARN), context={"nested": {"a": 1}}),
        answer(stmt("Allow", ARN), context={"list": [1]}),
        answer(stmt("Allow", 5)),
    ],
)
def test_unusable_answers_are_errors(bad: Any) -> None:
    with pytest.raises(MalformedAnswer):
        evaluate(bad, ARN)
