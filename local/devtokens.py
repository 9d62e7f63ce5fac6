"""Development tokens: HS256 JWTs signed with the secret the stack seeded for its authorizer,
and RS256 JWTs from the local OIDC issuer for HTTP API JWT authorizers that point at it.

The claims are the usual ones a JWT authorizer checks (``sub``, ``name``, ``iat``, ``exp``, and
``iss`` / ``aud`` when the deployment checks them) plus ``rooms`` for private rooms and ``scope``
(space-separated, OAuth 2.0) for service routes. A token minted for a client (``client_id``)
carries ``client_id`` instead of ``aud``, the shape of a Cognito client-credentials access token.
Local only: the secret comes from ``local.yaml`` and the RSA key from ``.local-stack/``, never
from a real deployment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

__all__ = [
    "DevTokenSettings",
    "dev_token_settings",
    "mint_dev_token",
    "mint_rs256_token",
    "token_claims",
]

# PyJWT only warns about short HMAC keys; a key this short would be refused by the authorizer.
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class DevTokenSettings:
    secret: str
    issuer: str | None = None
    audience: str | None = None
    ttl_seconds: int = 3600


def dev_token_settings(
    section: Mapping[str, Any] | None,
    ssm: Mapping[str, str],
    parameters: Mapping[str, str],
) -> DevTokenSettings | None:
    """From ``local.yaml``: ``dev_token.secret`` wins; else ``dev_token.secret_parameter`` (an
    SSM name seeded by ``local.yaml``); else the SSM parameter the template's
    ``JwtSecretParameterName`` names. Issuer and audience default to ``JwtIssuer`` /
    ``JwtAudience``. None when there is no secret to sign with.
    """
    section = dict(section or {})
    secret = section.get("secret")
    if not secret:
        parameter = section.get("secret_parameter") or parameters.get("JwtSecretParameterName")
        if parameter:
            secret = ssm.get(str(parameter))
    if not secret:
        return None
    ttl = section.get("ttl_seconds", 3600)
    return DevTokenSettings(
        secret=str(secret),
        issuer=str(section.get("issuer") or parameters.get("JwtIssuer") or "") or None,
        audience=str(section.get("audience") or parameters.get("JwtAudience") or "") or None,
        ttl_seconds=int(ttl) if isinstance(ttl, int) and ttl > 0 else 3600,
    )


def token_claims(
    *,
    user: str,
    ttl_seconds: int,
    name: str | None = None,
    rooms: Sequence[str] = (),
    scopes: Sequence[str] = (),
    issuer: str | None = None,
    audience: str | None = None,
    client_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": user, "iat": issued, "exp": issued + ttl_seconds}
    if name:
        claims["name"] = name
    if rooms:
        claims["rooms"] = list(rooms)
    if scopes:
        claims["scope"] = " ".join(scopes)
    if issuer:
        claims["iss"] = issuer
    if client_id:
        claims["client_id"] = client_id
        claims["token_use"] = "access"
    elif audience:
        claims["aud"] = audience
    return claims


def mint_dev_token(
    settings: DevTokenSettings,
    *,
    user: str,
    name: str | None = None,
    rooms: Sequence[str] = (),
    scopes: Sequence[str] = (),
    now: float | None = None,
) -> str:
    if len(settings.secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the dev JWT secret must be at least {MIN_SECRET_BYTES} bytes (local.yaml)"
        )
    claims = token_claims(
        user=user,
        ttl_seconds=settings.ttl_seconds,
        name=name,
        rooms=rooms,
        scopes=scopes,
        issuer=settings.issuer,
        audience=settings.audience,
        now=now,
    )
    return jwt.encode(claims, settings.secret, algorithm="HS256")


def mint_rs256_token(
    sign: Callable[[dict[str, Any]], str],
    *,
    issuer: str,
    audience: str | None,
    user: str,
    name: str | None = None,
    rooms: Sequence[str] = (),
    scopes: Sequence[str] = (),
    client_id: str | None = None,
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """A token of the local OIDC issuer (``sign`` is :meth:`LocalIssuer.sign`)."""
    claims = token_claims(
        user=user,
        ttl_seconds=ttl_seconds,
        name=name,
        rooms=rooms,
        scopes=scopes,
        issuer=issuer,
        audience=audience,
        client_id=client_id,
        now=now,
    )
    return sign(claims)
