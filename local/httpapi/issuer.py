"""The local OIDC issuer: an RSA key of the stack's own, its discovery document and JWKS.

The key is made once and kept under the state directory (``.local-stack/oidc/``, like the TLS
files), so tokens minted before a restart still verify. The issuer is served on the HTTP API's
port under :data:`ISSUER_PATH` (``/.well-known/openid-configuration`` and ``/jwks.json``).

Which of a template's JWT authorizers it stands in for is :func:`serves`: an issuer URL on this
machine ending in ``/_local/oidc`` (any port), or one of the issuers listed in ``local.yaml``
(``local_issuer.issuers``) so a template whose issuer is a real Cognito pool still runs locally.
Tokens then carry the template's own ``iss``, and only the key comes from here.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from collections.abc import Collection
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["ISSUER_PATH", "LocalIssuer", "serves"]

ISSUER_PATH = "/_local/oidc"
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serves(issuer: str, stand_in_for: Collection[str] = ()) -> bool:
    """Whether the local issuer signs for ``issuer`` (a JWT authorizer's configured Issuer)."""
    if issuer in stand_in_for or issuer.rstrip("/") in {s.rstrip("/") for s in stand_in_for}:
        return True
    parts = urllib.parse.urlsplit(issuer)
    return (
        parts.scheme in ("http", "https")
        and (parts.hostname or "") in _LOCAL_HOSTS
        and parts.path.rstrip("/") == ISSUER_PATH
    )


class LocalIssuer:
    """One RSA signing key and what an OIDC client needs to fetch its public half."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.private_key = private_key
        public = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
        # A stable kid: the SHA-256 of the public modulus, as many issuers derive theirs.
        self.kid = hashlib.sha256(public["n"].encode()).hexdigest()[:16]
        self._public_jwk = {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    @classmethod
    def generate(cls) -> LocalIssuer:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, directory: str | Path) -> LocalIssuer:
        path = Path(directory) / "signing-key.pem"
        if path.is_file():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return cls(key)
        issuer = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = issuer.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Owner-only, like any private key; written whole so a crash leaves no half file.
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        tmp.replace(path)
        return issuer

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._public_jwk)]}

    def keys(self) -> dict[str, jwt.PyJWK]:
        return {self.kid: jwt.PyJWK(self._public_jwk, algorithm="RS256")}

    @staticmethod
    def discovery(base_url: str) -> dict[str, Any]:
        """The discovery document for the issuer at ``base_url`` (``http://host:port/_local/oidc``)."""
        base = base_url.rstrip("/")
        return {
            "issuer": base,
            "jwks_uri": f"{base}/jwks.json",
            "token_endpoint": f"{base.removesuffix(ISSUER_PATH)}/_local/token",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "grant_types_supported": ["client_credentials"],
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})
