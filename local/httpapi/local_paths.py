"""The local-only paths on the HTTP API's port, under ``/_local/`` (no AWS API has them).

* ``/_local/oidc/.well-known/openid-configuration`` and ``/_local/oidc/jwks.json``: the local
  OIDC issuer, for JWT authorizers (ours, or any OIDC client) that fetch keys over HTTP;
* ``/_local/token?user=..&name=..&rooms=a,b&scope=a+b&client_id=..``: a token the stack's
  authorizers accept (RS256 from the local issuer when a JWT authorizer points at it, else the
  HS256 dev token of ``local.yaml``).

A template route under ``/_local/`` is shadowed by these; the loader's docs say so. Pure.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from local.httpapi.issuer import ISSUER_PATH, LocalIssuer
from local.httpapi.responses import HttpReply

__all__ = ["LOCAL_PREFIX", "TokenMinter", "TokenRequest", "answer_local"]

LOCAL_PREFIX = "/_local/"


@dataclass(frozen=True)
class TokenRequest:
    user: str
    name: str | None = None
    rooms: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    client_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


TokenMinter = Callable[[TokenRequest], str]


def _json(status: int, value: object) -> HttpReply:
    body = json.dumps(value).encode()
    headers = [("content-type", "application/json"), ("cache-control", "no-store")]
    return HttpReply(status, headers, body)


def answer_local(
    path: str,
    query: str,
    *,
    issuer: LocalIssuer | None,
    issuer_url: str,
    mint: TokenMinter | None,
) -> HttpReply:
    if path == f"{ISSUER_PATH}/.well-known/openid-configuration" and issuer is not None:
        return _json(200, issuer.discovery(issuer_url))
    if path == f"{ISSUER_PATH}/jwks.json" and issuer is not None:
        return _json(200, issuer.jwks())
    if path == "/_local/token":
        if mint is None:
            return _json(
                404,
                {
                    "message": "no local tokens: no dev_token secret in local.yaml "
                    "and no JWT authorizer on the local issuer"
                },
            )
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        user = params.get("user", "").strip()
        client_id = params.get("client_id", "").strip() or None
        if not user and client_id:
            user = client_id  # a client-credentials token's subject is the client
        if not user:
            return _json(400, {"message": "query parameter 'user' (or 'client_id') is required"})
        request = TokenRequest(
            user=user,
            name=params.get("name") or None,
            rooms=tuple(r for r in params.get("rooms", "").split(",") if r),
            scopes=tuple(params.get("scope", "").split()),
            client_id=client_id,
        )
        try:
            token = mint(request)
        except ValueError as exc:
            return _json(400, {"message": str(exc)})
        return _json(
            200,
            {
                "token": token,
                "user": user,
                "name": request.name or user,
                "scope": " ".join(request.scopes),
                "token_type": "Bearer",
            },
        )
    return _json(404, {"message": "Not Found"})
