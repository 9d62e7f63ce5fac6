"""Where the authorizer's verification key comes from.

``JWT_SECRET`` (tests, local) beats ``JWT_SECRET_PARAMETER``; a parameter that starts with
``arn:aws:secretsmanager:`` is a Secrets Manager secret, anything else an SSM parameter name
(SecureString decrypted). Powertools' providers cache the value for ``max_age`` seconds so a warm
authorizer reads it rarely and a rotated key is picked up within minutes.
"""

from __future__ import annotations

import functools
from typing import Any

from chatcore import clients
from chatcore.auth import TokenVerifier
from chatcore.config import Config, ConfigError

__all__ = ["SECRET_MAX_AGE", "hs256_secret", "verifier_for"]

SECRET_MAX_AGE = 300

_providers: dict[str, Any] = {}


def hs256_secret(config: Config) -> str:
    if config.jwt_secret:
        return config.jwt_secret
    name = config.jwt_secret_parameter
    if not name:
        raise ConfigError("HS256 needs JWT_SECRET or JWT_SECRET_PARAMETER")
    # Imported here: Powertools' parameters module imports boto3, which only this path needs.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    if name.startswith("arn:aws:secretsmanager:"):
        provider = _providers.get("secrets") or SecretsProvider(
            boto3_client=clients.secretsmanager()
        )
        _providers["secrets"] = provider
        value = provider.get(name, max_age=SECRET_MAX_AGE)
    else:
        provider = _providers.get("ssm") or SSMProvider(boto3_client=clients.ssm())
        _providers["ssm"] = provider
        value = provider.get(name, decrypt=True, max_age=SECRET_MAX_AGE)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"the JWT secret parameter {name} is empty")
    return value


def verifier_for(config: Config) -> TokenVerifier:
    """A verifier for the configured algorithm (cheap for HS256; RS256 caches its JWKS client)."""
    if config.jwt_algorithm == "RS256":
        return _rs256_verifier(config.jwt_jwks_url, config.jwt_issuer, config.jwt_audience)
    return TokenVerifier(
        algorithm="HS256",
        secret=hs256_secret(config),
        issuer=config.jwt_issuer,
        audience=config.jwt_audience,
    )


@functools.cache
def _rs256_verifier(jwks_url: str, issuer: str, audience: str) -> TokenVerifier:
    # One PyJWKClient per warm container, so its key cache survives between requests.
    return TokenVerifier(algorithm="RS256", jwks_url=jwks_url, issuer=issuer, audience=audience)
