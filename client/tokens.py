"""Dev tokens for the local stack (and any HS256 deploy whose secret you hold).

The secret, issuer and audience come from, in order: explicit arguments (``--secret`` ...), the
environment (``CHAT_JWT_SECRET``, ``CHAT_JWT_ISSUER``, ``CHAT_JWT_AUDIENCE``), or the project's
``local.yaml`` (the seeded value of the SSM parameter that holds the dev secret), found by looking
in the current directory and its parents.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jwt
import yaml

__all__ = [
    "SCOPES",
    "DevSettings",
    "TokenError",
    "find_local_yaml",
    "load_dev_settings",
    "mint_token",
]

LOCAL_YAML = "local.yaml"
DEFAULT_TTL = 12 * 3600
MIN_SECRET_BYTES = 32  # the authorizer refuses shorter HS256 keys
# The HTTP API's service scopes (its routes say which needs which; see docs/openapi.yaml).
SCOPES = ("chat/publish", "chat/notify", "chat/admin")


class TokenError(Exception):
    """No secret to sign with, or settings that cannot make a token the server would accept."""


@dataclass(frozen=True)
class DevSettings:
    secret: str | None = None
    issuer: str | None = None
    audience: str | None = None
    ttl: int = DEFAULT_TTL
    source: str = "nowhere"


def find_local_yaml(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / LOCAL_YAML
        if candidate.is_file():
            return candidate
    return None


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return None


def _ssm_values(data: Mapping[str, Any]) -> dict[str, str]:
    """The seeded SSM parameters, as ``name -> value`` whatever list/map form the file uses."""
    seeds = data.get("ssm") or data.get("ssm_parameters") or {}
    if isinstance(seeds, Mapping):
        seeds = seeds.get("parameters", seeds)
    values: dict[str, str] = {}
    if isinstance(seeds, Mapping):
        for name, value in seeds.items():
            if isinstance(value, Mapping):
                value = value.get("value", value.get("Value"))
            if isinstance(value, str):
                values[str(name)] = value
    elif isinstance(seeds, list):
        for item in seeds:
            if isinstance(item, Mapping):
                name = item.get("name", item.get("Name"))
                value = item.get("value", item.get("Value"))
                if isinstance(name, str) and isinstance(value, str):
                    values[name] = value
    return values


def settings_from_local_yaml(data: Mapping[str, Any], *, source: str = LOCAL_YAML) -> DevSettings:
    overrides = data.get("parameters") or data.get("parameter_overrides") or {}
    overrides = overrides if isinstance(overrides, Mapping) else {}
    tokens = data.get("dev_tokens") or data.get("tokens") or data.get("dev_token") or {}
    tokens = tokens if isinstance(tokens, Mapping) else {}
    ssm = _ssm_values(data)
    parameter = _first_str(
        tokens.get("secret_parameter"),
        overrides.get("JwtSecretParameterName"),
        "/chat/dev/jwt-secret",
    )
    secret = _first_str(tokens.get("secret"), ssm.get(parameter or ""))
    if secret is None and len(ssm) == 1:
        secret = next(iter(ssm.values()))
    ttl = tokens.get("ttl_seconds", tokens.get("ttl", DEFAULT_TTL))
    return DevSettings(
        secret=secret,
        issuer=_first_str(tokens.get("issuer"), overrides.get("JwtIssuer")),
        audience=_first_str(tokens.get("audience"), overrides.get("JwtAudience")),
        ttl=ttl if isinstance(ttl, int) and ttl > 0 else DEFAULT_TTL,
        source=source,
    )


def load_dev_settings(
    *,
    environ: Mapping[str, str],
    cwd: Path,
    secret: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
) -> DevSettings:
    """Settings for :func:`mint_token`; an argument beats the environment beats ``local.yaml``."""
    base = DevSettings()
    path = find_local_yaml(cwd)
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TokenError(f"cannot read {path}: {exc}") from None
        if isinstance(data, Mapping):
            base = settings_from_local_yaml(data, source=str(path))
    env_secret = environ.get("CHAT_JWT_SECRET") or None
    return replace(
        base,
        secret=secret or env_secret or base.secret,
        issuer=issuer or environ.get("CHAT_JWT_ISSUER") or base.issuer,
        audience=audience or environ.get("CHAT_JWT_AUDIENCE") or base.audience,
        source="--secret" if secret else "CHAT_JWT_SECRET" if env_secret else base.source,
    )


def mint_token(
    *,
    user: str,
    settings: DevSettings,
    name: str | None = None,
    rooms: Sequence[str] = (),
    ttl: int | None = None,
    now: float | None = None,
    scopes: Sequence[str] = (),
) -> str:
    """An HS256 JWT the authorizer accepts: ``sub``, ``name``, ``rooms`` (private), ``exp``;
    with ``scopes`` (``chat/notify``, ``chat/publish``, ``chat/admin``) a service token for the
    HTTP API's service routes, its OAuth ``scope`` claim as a client-credentials grant gives."""
    if not settings.secret:
        raise TokenError(
            "no dev JWT secret: pass --secret, set CHAT_JWT_SECRET, or run from the project "
            "(its local.yaml holds the local stack's secret)"
        )
    if len(settings.secret.encode()) < MIN_SECRET_BYTES:
        raise TokenError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": user,
        "name": name or user,
        "iat": issued,
        "exp": issued + (ttl or settings.ttl),
    }
    if rooms:
        claims["rooms"] = [r if r.startswith("private:") else f"private:{r}" for r in rooms]
    if settings.issuer:
        claims["iss"] = settings.issuer
    if settings.audience:
        claims["aud"] = settings.audience
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise TokenError(f"unknown scope {unknown[0]!r}: expected one of {', '.join(SCOPES)}")
    if scopes:
        claims["scope"] = " ".join(dict.fromkeys(scopes))
    return jwt.encode(claims, settings.secret, algorithm="HS256")
