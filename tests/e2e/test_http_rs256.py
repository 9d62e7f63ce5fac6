"""template.yaml in its RS256 mode on the local stack: API Gateway's own JWT authorizer on the HTTP
API, its (Cognito-shaped) issuer mapped to the local OIDC issuer by ``local.yaml``'s
``local_issuer`` section, as the header of the project's local.yaml describes."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from local.testing import StackThread
from tests.e2e.conftest import CHAT_TEMPLATE, running_stack

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
CONFIG = f"""
parameters:
  StageName: dev
  JwtAlgorithm: RS256
  JwtIssuer: {ISSUER}
  JwtAudience: chat
  JwtJwksUrl: {ISSUER}/.well-known/jwks.json
local_issuer:
  issuers: [{ISSUER}]
"""


@pytest.fixture(scope="module")
def rs256_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackThread]:
    folder = tmp_path_factory.mktemp("rs256-stack")
    (folder / "local.yaml").write_text(CONFIG)
    with running_stack(
        CHAT_TEMPLATE, folder / "stack.log", config=folder / "local.yaml"
    ) as running:
        yield running


def test_local_tokens_carry_the_templates_issuer_and_pass_its_jwt_authorizer(
    rs256_stack: StackThread,
) -> None:
    token = rs256_stack.local_token("ada")
    header, claims = (
        jwt.get_unverified_header(token),
        jwt.decode(token, options={"verify_signature": False}),
    )
    assert header["alg"] == "RS256" and (claims["iss"], claims["aud"]) == (ISSUER, "chat")
    answer = rs256_stack.request(
        "POST", "/rooms/lobby/messages", token=token, json_body={"text": "signed locally"}
    )
    assert answer.status == 201, answer
    page = rs256_stack.request("GET", "/rooms/lobby/messages", token=token).json()
    assert [(m["from"], m["text"]) for m in page["messages"]] == [("ada", "signed locally")]


def test_route_scopes_and_refusals_come_from_the_jwt_authorizer(rs256_stack: StackThread) -> None:
    notification = {"targets": {"all": True}, "payload": {"n": 1}}
    user = rs256_stack.local_token("ada")
    refused = rs256_stack.request("POST", "/notifications", token=user, json_body=notification)
    assert (refused.status, refused.json()) == (403, {"message": "Forbidden"})
    service = rs256_stack.local_token("billing", scopes=("chat/notify",))
    sent = rs256_stack.request("POST", "/notifications", token=service, json_body=notification)
    assert sent.status == 202, sent
    # Signed by someone else: the local key does not verify it.
    forged = jwt.encode(
        {"sub": "mallory", "iss": ISSUER, "aud": "chat", "exp": 2**31},
        "a-shared-secret-nobody-should-accept-here",
        algorithm="HS256",
    )
    answer = rs256_stack.request("GET", "/me", token=forged)
    assert (answer.status, answer.json()) == (401, {"message": "Unauthorized"})
