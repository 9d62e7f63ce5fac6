"""Signing keys for JWT authorizers: the local issuer's directly, any other issuer's over HTTP.

For an issuer the local stack does not stand in for, the keys come the way API Gateway gets
them: ``{issuer}/.well-known/openid-configuration`` -> ``jwks_uri`` -> the JWKS. They are kept
and fetched again when a token names a ``kid`` not seen yet (a key rotation), at most once per
``refresh_seconds``. A fetch that fails leaves no keys, so tokens of that issuer are refused
(401) and the log says why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import jwt

from local.httpapi.issuer import LocalIssuer, serves
from local.httpapi.jwt_authorizer import keys_from_jwks

__all__ = ["FetchJson", "JwksCache", "fetch_json"]

FetchJson = Callable[[str], Awaitable[Any]]


async def fetch_json(url: str, *, timeout: float = 5.0) -> Any:
    """GET ``url`` and parse its JSON body (aiohttp; raises on a non-2xx answer)."""
    import aiohttp

    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        async with session.get(url, headers={"accept": "application/json"}) as response:
            response.raise_for_status()
            return await response.json(content_type=None)


class JwksCache:
    def __init__(
        self,
        *,
        local: LocalIssuer | None,
        stand_in_for: Collection[str] = (),
        fetch: FetchJson = fetch_json,
        refresh_seconds: float = 30.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.local = local
        self.stand_in_for = tuple(stand_in_for)
        self._fetch = fetch
        self.refresh_seconds = refresh_seconds
        self._on_error = on_error
        self._keys: dict[str, dict[str, jwt.PyJWK]] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def is_local(self, issuer: str) -> bool:
        return self.local is not None and serves(issuer, self.stand_in_for)

    async def keys(self, issuer: str, kid: str | None) -> dict[str, jwt.PyJWK]:
        if self.local is not None and serves(issuer, self.stand_in_for):
            return self.local.keys()
        known = self._keys.get(issuer, {})
        if kid is not None and kid in known:
            return known
        async with self._lock:
            known = self._keys.get(issuer, {})
            last = self._fetched_at.get(issuer)
            if (kid is None or kid not in known) and (
                last is None or time.monotonic() - last >= self.refresh_seconds
            ):
                self._fetched_at[issuer] = time.monotonic()
                try:
                    config = await self._fetch(
                        issuer.rstrip("/") + "/.well-known/openid-configuration"
                    )
                    jwks = await self._fetch(str(config["jwks_uri"]))
                except Exception as exc:  # any failure: no keys, the token is refused
                    if self._on_error is not None:
                        self._on_error(f"JWKS of {issuer} unavailable: {type(exc).__name__}: {exc}")
                else:
                    self._keys[issuer] = keys_from_jwks(jwks)
            return self._keys.get(issuer, {})
