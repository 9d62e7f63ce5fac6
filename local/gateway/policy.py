"""Evaluate a Lambda authorizer's answer the way API Gateway does.

The authorizer returns ``{"principalId", "policyDocument", "context"}``. The policy is matched
against the method ARN (``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect``) for
the action ``execute-api:Invoke``: ``*`` and ``?`` are wildcards in both, an explicit ``Deny``
wins over any ``Allow``, and no matching ``Allow`` means deny. An answer API Gateway could not use
(no policy, a context value that is an object or a list) is an authorizer failure: 500.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["AuthorizerAnswer", "Decision", "MalformedAnswer", "evaluate", "matches"]

INVOKE = "execute-api:Invoke"


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


class MalformedAnswer(ValueError):
    """The authorizer returned something API Gateway would reject (it answers 500)."""


@dataclass(frozen=True)
class AuthorizerAnswer:
    decision: Decision
    principal_id: str
    context: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=256)
def _pattern(glob: str) -> re.Pattern[str]:
    # fnmatch would also treat [...] as a class; IAM knows only * and ?.
    escaped = glob.replace("[", "\x00").replace("]", "\x01")
    regex = fnmatch.translate(escaped).replace("\x00", r"\[").replace("\x01", r"\]")
    return re.compile(regex, re.DOTALL)


def matches(glob: str, value: str) -> bool:
    """IAM-style match: ``*`` any run of characters, ``?`` exactly one, case-sensitive."""
    return _pattern(glob).match(value) is not None


def _as_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise MalformedAnswer(f"policy statement {what} must be a string or a list of strings")


def _action_matches(pattern: str, action: str) -> bool:
    # Action names are case-insensitive in IAM; resources are not.
    return matches(pattern.lower(), action.lower())


def evaluate(answer: Any, method_arn: str) -> AuthorizerAnswer:
    """Decide from the authorizer's return value; raises :class:`MalformedAnswer`."""
    if not isinstance(answer, dict):
        raise MalformedAnswer(
            "authorizer must return an object with principalId and policyDocument"
        )
    document = answer.get("policyDocument")
    if not isinstance(document, dict):
        raise MalformedAnswer("authorizer answer has no policyDocument")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedAnswer("policyDocument has no Statement")
    context = answer.get("context") or {}
    if not isinstance(context, dict):
        raise MalformedAnswer("authorizer context must be an object")
    for key, value in context.items():
        if not isinstance(value, str | int | float | bool) or value is None:
            raise MalformedAnswer(
                f"authorizer context value {key!r} must be a string, number or boolean"
            )
    principal = answer.get("principalId")
    principal_id = "" if principal is None else str(principal)

    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            raise MalformedAnswer("policy statement must be an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise MalformedAnswer(f"policy statement Effect must be Allow or Deny, not {effect!r}")
        actions = _as_list(statement.get("Action", []), "Action")
        resources = _as_list(statement.get("Resource", []), "Resource")
        hit = any(_action_matches(a, INVOKE) for a in actions) and any(
            matches(r, method_arn) for r in resources
        )
        if hit and effect == "Deny":
            return AuthorizerAnswer(Decision.DENY, principal_id, dict(context))
        if hit:
            allowed = True
    decision = Decision.ALLOW if allowed else Decision.DENY
    return AuthorizerAnswer(decision, principal_id, dict(context))
