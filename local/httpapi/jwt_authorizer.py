"""The HTTP API's native JWT authorizer, as API Gateway runs it: pure checks over a token.

Order and answers follow AWS's documentation of the JWT authorizer. The token comes from the
identity source (``$request.header.Authorization``; a ``Bearer `` prefix is dropped); a missing
token is 401. Only RSA signatures are accepted (``RS256``/``RS384``/``RS512``, pinned: never
``none``, never HMAC), with the key named by ``kid`` in the issuer's JWKS. Then ``iss`` must equal
the configured issuer, ``aud`` (or ``client_id`` when the token has no ``aud``, like Cognito access
tokens) must be one of the configured audiences, ``exp`` must be in the future, ``nbf`` and ``iat``
not. Any failure is 401 ``{"message":"Unauthorized"}`` with a ``www-authenticate`` header. A route
with ``AuthorizationScopes`` needs at least one of them in the token's ``scope`` / ``scp``, else 403
``{"message":"Forbidden"}``. What reaches the handler is
``{"jwt": {"claims": {...all strings...}, "scopes": [...] | None}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from local.httpapi.events import claims_as_strings

__all__ = [
    "ALGORITHMS",
    "JwtVerdict",
    "bearer_token",
    "check_jwt",
    "keys_from_jwks",
    "token_kid",
    "token_scopes",
]

ALGORITHMS = ("RS256", "RS384", "RS512")


@dataclass(frozen=True)
class JwtVerdict:
    status: int  # 200, 401 or 403
    reason: str  # for the log; never the token
    claims: dict[str, Any] | None = None
    scopes: list[str] | None = None
    www_authenticate: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def authorizer_context(self) -> dict[str, Any]:
        return {"jwt": {"claims": claims_as_strings(self.claims or {}), "scopes": self.scopes}}


def _unauthorized(description: str | None) -> JwtVerdict:
    if description is None:
        return JwtVerdict(401, "no token in the identity source", www_authenticate="Bearer")
    header = f'Bearer error="invalid_token" error_description="{description}"'
    return JwtVerdict(401, description, www_authenticate=header)


def bearer_token(value: str | None) -> str | None:
    """The token in an identity source value; ``Bearer `` is optional, as on AWS."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() == "bearer":
        return None
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    return text or None


def keys_from_jwks(jwks: Any) -> dict[str, jwt.PyJWK]:
    """``{"keys": [...]}`` -> RSA signing keys by ``kid``; other keys are skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in (jwks or {}).get("keys", []) if isinstance(jwks, dict) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or "kid" not in entry:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[str(entry["kid"])] = jwt.PyJWK(entry, algorithm=entry.get("alg") or "RS256")
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys


def token_kid(token: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        return None
    return str(kid) if kid is not None else None


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """``scope`` (space-separated, OAuth 2.0) or ``scp`` (a list or a string)."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(v) for v in value]
    return []


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(name)
    return float(value)


def check_jwt(
    token: str | None,
    *,
    keys: Mapping[str, jwt.PyJWK],
    issuer: str,
    audience: Sequence[str],
    route_scopes: Sequence[str],
    now: float,
) -> JwtVerdict:
    """Verify ``token`` the way the JWT authorizer does; never raises."""
    if not token:
        return _unauthorized(None)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return _unauthorized("the token is malformed")
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        return _unauthorized(f"signing method {algorithm} is invalid")
    kid = header.get("kid")
    key = keys.get(str(kid)) if kid is not None else None
    if key is None:
        return _unauthorized("the token has no kid the issuer's JWKS knows")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            # Time, issuer and audience are checked below, against `now`, as AWS words them.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError:
        return _unauthorized("the token signature is invalid")
    except jwt.InvalidTokenError:
        return _unauthorized("the token is malformed")
    if claims.get("iss") != issuer:
        return _unauthorized("the token has an invalid issuer")
    token_audience = claims.get("aud")
    if token_audience is not None:
        given = [token_audience] if isinstance(token_audience, str) else list(token_audience)
        if not any(str(a) in audience for a in given):
            return _unauthorized("the token has an invalid audience")
    elif str(claims.get("client_id")) not in audience:
        return _unauthorized("the token has no aud and its client_id is not an audience")
    try:
        exp, nbf, iat = (_number(claims, n) for n in ("exp", "nbf", "iat"))
    except ValueError as exc:
        return _unauthorized(f"the token claim {exc} is not a number")
    if exp is None or exp <= now:
        return _unauthorized("the token has expired")
    if nbf is not None and nbf > now:
        return _unauthorized("the token is not valid yet")
    if iat is not None and iat > now:
        return _unauthorized("the token was issued in the future")
    scopes = token_scopes(claims)
    if route_scopes:
        if not set(scopes) & set(route_scopes):
            wanted = " ".join(route_scopes)
            header_value = (
                f'Bearer scope="{wanted}" error="insufficient_scope" '
                f'error_description="expected scopes: [{wanted}]"'
            )
            return JwtVerdict(
                403, "the token has none of the route's scopes", claims, scopes, header_value
            )
        return JwtVerdict(200, "allowed", claims, scopes)
    return JwtVerdict(200, "allowed", claims, None)
