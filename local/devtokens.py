"""Development tokens: HS256 JWTs signed with the secret the stack seeded for its authorizer.

The claims are the usual ones a JWT authorizer checks (``sub``, ``name``, ``iat``, ``exp``, and
``iss`` / ``aud`` when the deployment checks them) plus ``rooms`` for private rooms. Local only:
the secret comes from ``local.yaml``, never from a real deployment.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

__all__ = ["DevTokenSettings", "dev_token_settings", "mint_dev_token"]

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


def mint_dev_token(
    settings: DevTokenSettings,
    *,
    user: str,
    name: str | None = None,
    rooms: Sequence[str] = (),
    now: float | None = None,
) -> str:
    if len(settings.secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the dev JWT secret must be at least {MIN_SECRET_BYTES} bytes (local.yaml)"
        )
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": user, "iat": issued, "exp": issued + settings.ttl_seconds}
    if name:
        claims["name"] = name
    if rooms:
        claims["rooms"] = list(rooms)
    if settings.issuer:
        claims["iss"] = settings.issuer
    if settings.audience:
        claims["aud"] = settings.audience
    return jwt.encode(claims, settings.secret, algorithm="HS256")
