from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chatcore.auth import (
    AuthError,
    Identity,
    TokenVerifier,
    build_policy,
    check_origin,
    mint_token,
)
from chatcore.config import ConfigError

SECRET = "s" * 32
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/dev/$connect"


def hs_verifier(**options: str) -> TokenVerifier:
    return TokenVerifier(algorithm="HS256", secret=SECRET, **options)


def hs_token(claims: dict[str, object], key: str = SECRET) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def claims(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {"sub": "alice", "exp": int(time.time()) + 60}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_valid_token_gives_the_identity_with_only_private_room_claims() -> None:
    token = hs_token(claims(name="Alice", rooms=["private:ops", "lobby", "private:bad room"]))
    assert hs_verifier().verify(token) == Identity(
        user_id="alice", name="Alice", rooms=("private:ops",)
    )


def test_name_falls_back_to_the_user_id() -> None:
    assert hs_verifier().verify(hs_token(claims())).name == "alice"


def test_expired_token_is_refused_but_small_clock_skew_is_tolerated() -> None:
    with pytest.raises(AuthError, match="ExpiredSignature"):
        hs_verifier().verify(hs_token(claims(exp=int(time.time()) - 120)))
    assert hs_verifier().verify(hs_token(claims(exp=int(time.time()) - 5))).user_id == "alice"


@pytest.mark.parametrize("missing", ["sub", "exp"])
def test_sub_and_exp_are_required(missing: str) -> None:
    token = hs_token({k: v for k, v in claims().items() if k != missing})
    with pytest.raises(AuthError, match="MissingRequiredClaim"):
        hs_verifier().verify(token)


def test_unusable_sub_is_refused() -> None:
    with pytest.raises(AuthError):
        hs_verifier().verify(hs_token(claims(sub="a:b")))


def test_empty_or_garbage_token_is_refused() -> None:
    for token in ("", "abc", "a.b.c"):
        with pytest.raises(AuthError):
            hs_verifier().verify(token)


def test_wrong_key_is_refused() -> None:
    with pytest.raises(AuthError, match="InvalidSignature"):
        hs_verifier().verify(hs_token(claims(), key="t" * 32))


def test_alg_none_is_refused() -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    with pytest.raises(AuthError):
        hs_verifier().verify(token)


def test_hs256_key_shorter_than_32_bytes_is_refused_everywhere() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        TokenVerifier(algorithm="HS256", secret="short")
    with pytest.raises(ConfigError, match="32 bytes"):
        mint_token("short", sub="alice")
    with pytest.raises(ConfigError):
        TokenVerifier(algorithm="HS256")
    with pytest.raises(ConfigError):
        TokenVerifier(algorithm="none", secret=SECRET)


def test_issuer_and_audience_are_checked_when_configured() -> None:
    verifier = hs_verifier(issuer="https://issuer.example", audience="chat")
    good = hs_token(claims(iss="https://issuer.example", aud="chat"))
    assert verifier.verify(good).user_id == "alice"
    with pytest.raises(AuthError, match="InvalidIssuer"):
        verifier.verify(hs_token(claims(iss="https://evil.example", aud="chat")))
    with pytest.raises(AuthError, match="InvalidAudience"):
        verifier.verify(hs_token(claims(iss="https://issuer.example", aud="other")))
    with pytest.raises(AuthError, match="MissingRequiredClaim"):
        verifier.verify(hs_token(claims(aud="chat")))
    # Unconfigured checks do not reject tokens that carry the claims (e.g. Cognito's aud).
    assert hs_verifier().verify(good).user_id == "alice"


def test_minted_token_round_trips_with_every_claim() -> None:
    token = mint_token(
        SECRET, sub="bob", name="Bob", rooms=["private:ops"], issuer="i", audience="a"
    )
    identity = hs_verifier(issuer="i", audience="a").verify(token)
    assert identity == Identity(user_id="bob", name="Bob", rooms=("private:ops",))
    expired = mint_token(SECRET, sub="bob", ttl_seconds=10, now=time.time() - 3600)
    with pytest.raises(AuthError):
        hs_verifier().verify(expired)


# ---- RS256 through a JWKS ----------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JwksServer:
    """A JWKS on 127.0.0.1 that counts how often it is fetched."""

    def __init__(self, document: dict[str, object]) -> None:
        body = json.dumps(document).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def jwks(rsa_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update(kid="key-1", use="sig", alg="RS256")
    server = JwksServer({"keys": [jwk]})
    yield server
    server.close()


def rs_token(key: rsa.RSAPrivateKey, kid: str = "key-1", **extra: object) -> str:
    return jwt.encode(claims(**extra), key, algorithm="RS256", headers={"kid": kid})


def test_rs256_token_verifies_through_the_jwks_and_the_keys_are_cached(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(algorithm="RS256", jwks_url=jwks.url)
    assert verifier.verify(rs_token(rsa_key)).user_id == "alice"
    assert verifier.verify(rs_token(rsa_key, name="Again")).name == "Again"
    assert jwks.fetches == 1


def test_rs256_refuses_unknown_kid_and_other_keys(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(algorithm="RS256", jwks_url=jwks.url)
    with pytest.raises(AuthError):
        verifier.verify(rs_token(rsa_key, kid="key-2"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthError):
        verifier.verify(rs_token(other))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hs256_token_keyed_with_the_public_key_is_refused_by_rs256(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    # The classic algorithm confusion: an HMAC whose key is the (public) RSA key.
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    payload = _b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{_b64(signature)}"
    verifier = TokenVerifier(algorithm="RS256", jwks_url=jwks.url)
    with pytest.raises(AuthError):
        verifier.verify(forged)


def test_rs256_token_is_refused_by_an_hs256_verifier(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthError):
        hs_verifier().verify(rs_token(rsa_key))


def test_rs256_without_a_jwks_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        TokenVerifier(algorithm="RS256")


# ---- origin, policy, context -------------------------------------------------------------


def test_origin_allowlist() -> None:
    allowed = ("https://chat.example.com", "http://localhost:3000/")
    check_origin("https://chat.example.com", allowed)
    check_origin("HTTPS://Chat.Example.com/", allowed)
    check_origin("http://localhost:3000", allowed)
    check_origin(None, allowed)  # not a browser: nothing to check
    check_origin("https://evil.example", ())  # empty list = any origin
    with pytest.raises(AuthError):
        check_origin("https://evil.example", allowed)
    with pytest.raises(AuthError):
        check_origin("https://chat.example.com.evil.example", allowed)


def test_policy_allows_or_denies_the_method_arn_with_string_context() -> None:
    identity = Identity(user_id="alice", name="Alice", rooms=("private:a", "private:b"))
    policy = build_policy(
        principal_id="alice", effect="Allow", method_arn=METHOD_ARN, context=identity.to_context()
    )
    assert policy == {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
            ],
        },
        "context": {"userId": "alice", "name": "Alice", "rooms": "private:a,private:b"},
    }
    assert all(isinstance(v, str) for v in policy["context"].values())
    deny = build_policy(principal_id="alice", effect="Deny", method_arn=METHOD_ARN)
    assert deny["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in deny
    with pytest.raises(ValueError):
        build_policy(principal_id="a", effect="Maybe", method_arn=METHOD_ARN)


def test_identity_round_trips_through_the_authorizer_context() -> None:
    identity = Identity(user_id="alice", name="Alice", rooms=("private:a",))
    context = {**identity.to_context(), "principalId": "alice", "integrationLatency": 12}
    assert Identity.from_context(context) == identity
    assert Identity.from_context({"userId": "bob", "rooms": ""}) == Identity(
        user_id="bob", name="bob"
    )
    with pytest.raises(AuthError):
        Identity.from_context({})
    with pytest.raises(AuthError):
        Identity.from_context(None)


def test_audience_is_aud_or_else_client_id_as_the_http_jwt_authorizer_checks() -> None:
    verifier = hs_verifier(audience="app-client")
    # Cognito access tokens (users' and client-credentials ones) carry client_id and no aud.
    assert verifier.verify(hs_token(claims(client_id="app-client"))).user_id == "alice"
    assert verifier.verify(hs_token(claims(aud=["other", "app-client"]))).user_id == "alice"
    for bad in (claims(client_id="other"), claims(aud="other", client_id="app-client"), claims()):
        with pytest.raises(AuthError, match="InvalidAudience"):
            verifier.verify(hs_token(bad))


def test_service_tokens_carry_their_scopes_to_the_context() -> None:
    token = mint_token(SECRET, sub="billing", scopes=["chat/notify", "chat/publish"])
    identity = hs_verifier().verify(token)
    assert identity.scopes == ("chat/notify", "chat/publish")
    assert identity.to_context()["scope"] == "chat/notify chat/publish"
    assert Identity.from_context(identity.to_context()) == identity
    # A user token's context is what it always was.
    assert "scope" not in hs_verifier().verify(hs_token(claims())).to_context()


def test_audience_may_be_a_list_of_app_clients() -> None:
    verifier = hs_verifier(audience="users-client,billing-client")
    assert verifier.verify(hs_token(claims(client_id="billing-client"))).user_id == "alice"
    assert verifier.verify(hs_token(claims(aud="users-client"))).user_id == "alice"
    with pytest.raises(AuthError, match="InvalidAudience"):
        verifier.verify(hs_token(claims(client_id="someone-else")))
