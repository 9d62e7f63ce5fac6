"""REQUEST authorizer on ``$connect``: verify the JWT and the Origin, answer with a policy.

A missing or invalid token raises ``Unauthorized`` (API Gateway answers 401); a valid token from a
browser Origin outside the allowlist gets a Deny policy (403). The token is never logged.
"""

from __future__ import annotations

import importlib
from typing import Any

from chatcore import clients
from chatcore.auth import AuthError, Unauthorized, build_policy, check_origin
from chatcore.config import Config
from chatcore.keys import verifier_for
from chatcore.observability import instrument, logger
from chatcore.requests import AuthorizerRequest

__all__ = ["handler"]

# With provisioned concurrency the init phase runs ahead of traffic: load PyJWT there.
clients.warm_if_provisioned(lambda: importlib.import_module("jwt"))


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    request = AuthorizerRequest.from_event(event)
    logger.append_keys(connection_id=request.connection_id)
    try:
        identity = verifier_for(config).verify(request.token)
    except AuthError as exc:
        logger.info("connection refused", extra={"reason": exc.reason})
        raise Unauthorized() from None
    try:
        check_origin(request.origin, config.allowed_origins)
    except AuthError as exc:
        logger.info("connection refused", extra={"reason": exc.reason, "user": identity.user_id})
        return build_policy(
            principal_id=identity.user_id, effect="Deny", method_arn=request.method_arn
        )
    logger.info("connection allowed", extra={"user": identity.user_id})
    return build_policy(
        principal_id=identity.user_id,
        effect="Allow",
        method_arn=request.method_arn,
        context=identity.to_context(),
    )
