"""API Gateway's HTTP APIs (payload format 2.0): a pure core under a thin aiohttp adapter.

Pure: :mod:`routing` (route priority), :mod:`events` (2.0 events), :mod:`responses` (response
inference and API Gateway's own error answers), :mod:`cors`, :mod:`jwt_authorizer` (the native
JWT authorizer's checks), :mod:`lambda_authorizer` (REQUEST authorizers, simple and IAM answers,
result cache), :mod:`throttling`, :mod:`local_paths` (``/_local/`` on this port).
Keys: :mod:`issuer` (the local OIDC issuer), :mod:`jwks` (other issuers' keys over HTTP).
Adapter: :mod:`server`.
"""

from __future__ import annotations

from local.httpapi.issuer import LocalIssuer
from local.httpapi.jwks import JwksCache
from local.httpapi.local_paths import TokenMinter, TokenRequest
from local.httpapi.server import MAX_PAYLOAD_BYTES, HttpApiOptions, HttpApiServer

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "HttpApiOptions",
    "HttpApiServer",
    "JwksCache",
    "LocalIssuer",
    "TokenMinter",
    "TokenRequest",
]
