"""The native JWT authorizer's checks and the local OIDC issuer, with real RSA keys."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jwt
import pytest

from local.devtokens import mint_rs256_token
from local.httpapi.issuer import LocalIssuer, serves
from local.httpapi.jwks import JwksCache
from local.httpapi.jwt_authorizer import bearer_token, check_jwt, keys_from_jwks, token_scopes

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer.generate()


@pytest.fixture(scope="module")
def other() -> LocalIssuer:
    return LocalIssuer.generate()


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "ada",
        "iss": ISSUER,
        "aud": "client-1",
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def check(issuer: LocalIssuer, token: str | None, *, scopes: tuple[str, ...] = ()) -> Any:
    return check_jwt(
        token,
        keys=keys_from_jwks(issuer.jwks()),
        issuer=ISSUER,
        audience=["client-1", "client-2"],
        route_scopes=scopes,
        now=NOW,
    )


def test_a_good_token_passes_with_string_claims_and_null_scopes(issuer: LocalIssuer) -> None:
    verdict = check(issuer, issuer.sign(claims(groups=["a", "b"])))
    assert verdict.ok
    context = verdict.authorizer_context()
    assert context["jwt"]["scopes"] is None
    assert context["jwt"]["claims"]["exp"] == str(int(NOW) + 600)
    assert context["jwt"]["claims"]["groups"] == "[a b]"


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"iss": "https://other.example"}, "invalid issuer"),
        ({"aud": "someone-else"}, "invalid audience"),
        ({"aud": None, "client_id": "nobody"}, "client_id is not an audience"),
        ({"exp": int(NOW) - 1}, "expired"),
        ({"exp": None}, "expired"),
        ({"nbf": int(NOW) + 60}, "not valid yet"),
        ({"iat": int(NOW) + 60}, "issued in the future"),
        ({"exp": "soon"}, "not a number"),
    ],
)
def test_bad_claims_are_401_with_www_authenticate(
    issuer: LocalIssuer, changes: dict[str, Any], description: str
) -> None:
    verdict = check(issuer, issuer.sign(claims(**changes)))
    assert verdict.status == 401
    assert description in verdict.reason
    assert verdict.www_authenticate.startswith('Bearer error="invalid_token"')


def test_client_id_stands_for_aud_when_there_is_none(issuer: LocalIssuer) -> None:
    assert check(issuer, issuer.sign(claims(aud=None, client_id="client-2"))).ok
    assert check(issuer, issuer.sign(claims(aud=["x", "client-2"]))).ok


def test_signature_kid_and_algorithm_are_checked(issuer: LocalIssuer, other: LocalIssuer) -> None:
    # Signed by another key that claims the trusted kid.
    forged = jwt.encode(claims(), other.private_key, algorithm="RS256", headers={"kid": issuer.kid})
    assert "signature is invalid" in check(issuer, forged).reason
    assert "no kid" in check(issuer, other.sign(claims())).reason
    unkeyed = jwt.encode(claims(), issuer.private_key, algorithm="RS256")
    assert "no kid" in check(issuer, unkeyed).reason
    hmac = jwt.encode(
        claims(),
        "a-shared-secret-of-at-least-32-bytes!!",
        algorithm="HS256",
        headers={"kid": issuer.kid},
    )
    assert "signing method HS256 is invalid" in check(issuer, hmac).reason
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": issuer.kid})
    assert check(issuer, unsigned).status == 401
    assert check(issuer, "not.a.jwt").status == 401


def test_no_token_is_401_with_a_bare_bearer_challenge(issuer: LocalIssuer) -> None:
    verdict = check(issuer, None)
    assert (verdict.status, verdict.www_authenticate) == (401, "Bearer")
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("abc") == "abc"  # the prefix is optional
    assert bearer_token("Bearer ") is None


def test_route_scopes_need_one_of_them_else_403(issuer: LocalIssuer) -> None:
    scoped = issuer.sign(claims(scope="chat/read chat/notify"))
    verdict = check(issuer, scoped, scopes=("chat/notify", "chat/admin"))
    assert verdict.ok and verdict.scopes == ["chat/read", "chat/notify"]
    denied = check(issuer, issuer.sign(claims(scope="chat/read")), scopes=("chat/notify",))
    assert denied.status == 403
    assert 'error="insufficient_scope"' in denied.www_authenticate
    assert check(issuer, issuer.sign(claims()), scopes=("chat/notify",)).status == 403
    assert token_scopes({"scp": ["a", "b"]}) == ["a", "b"]
    assert token_scopes({"scp": "a b"}) == ["a", "b"]


def test_minted_tokens_verify_and_carry_the_asked_claims(issuer: LocalIssuer) -> None:
    token = mint_rs256_token(
        issuer.sign,
        issuer=ISSUER,
        audience="client-1",
        user="svc",
        scopes=("chat/notify",),
        now=NOW,
        ttl_seconds=60,
    )
    verdict = check(issuer, token, scopes=("chat/notify",))
    assert verdict.ok
    assert verdict.claims["sub"] == "svc" and verdict.claims["exp"] == int(NOW) + 60
    access = mint_rs256_token(
        issuer.sign, issuer=ISSUER, audience="client-1", user="svc", client_id="client-2", now=NOW
    )
    decoded = check(issuer, access).claims
    assert "aud" not in decoded and decoded["client_id"] == "client-2"


def test_the_key_survives_a_restart(tmp_path: Path) -> None:
    first = LocalIssuer.load_or_create(tmp_path / "oidc")
    again = LocalIssuer.load_or_create(tmp_path / "oidc")
    assert first.kid == again.kid
    assert (tmp_path / "oidc" / "signing-key.pem").stat().st_mode & 0o077 == 0
    assert check(again, first.sign(claims())).ok


def test_which_issuers_the_local_one_signs_for() -> None:
    assert serves("http://127.0.0.1:3003/_local/oidc")
    assert serves("http://localhost/_local/oidc/")
    assert not serves("https://example.com/_local/oidc")
    assert not serves(ISSUER)
    assert serves(ISSUER, [ISSUER + "/"])


def test_other_issuers_keys_come_from_their_discovery_document(issuer: LocalIssuer) -> None:
    fetched: list[str] = []
    documents = {
        "https://idp.example/.well-known/openid-configuration": {
            "jwks_uri": "https://idp.example/keys"
        },
        "https://idp.example/keys": issuer.jwks(),
    }

    async def fetch(url: str) -> Any:
        fetched.append(url)
        return documents[url]

    async def run() -> None:
        cache = JwksCache(local=None, fetch=fetch, refresh_seconds=3600)
        assert set(await cache.keys("https://idp.example", issuer.kid)) == {issuer.kid}
        assert set(await cache.keys("https://idp.example", issuer.kid)) == {issuer.kid}
        assert len(fetched) == 2  # discovery + JWKS once, then kept
        await cache.keys("https://idp.example", "unknown-kid")  # rotation: not before refresh
        assert len(fetched) == 2
        failing = JwksCache(local=None, fetch=fetch, on_error=errors.append)
        assert await failing.keys("https://down.example", "k") == {}
        assert "JWKS of https://down.example unavailable" in errors[0]

    errors: list[str] = []
    asyncio.run(run())
