"""The REQUEST authorizer of both APIs: ``$connect`` on the WebSocket API, and every route of the
HTTP API when tokens are HS256 (with RS256 the HTTP API uses API Gateway's own JWT authorizer).

WebSocket: a missing or invalid token raises ``Unauthorized`` (API Gateway answers 401); a valid
token from a browser Origin outside the allowlist gets a Deny policy (403).

HTTP (payload 2.0, simple responses): ``{"isAuthorized": ...}``; a refusal is API Gateway's 403.
The route's scopes are enforced here, since a Lambda authorizer has no route scopes of its own;
the cache key holds the route as well as the token (see template.yaml), so an answer for one
route is never reused for another. The token is never logged.
"""

from __future__ import annotations

import importlib
from typing import Any

from chatcore import clients
from chatcore.auth import AuthError, Unauthorized, build_policy, check_origin
from chatcore.config import Config
from chatcore.httpauth import HttpAuthorizerRequest, authorize_route, is_http_authorizer_event
from chatcore.keys import verifier_for
from chatcore.observability import instrument, logger
from chatcore.requests import AuthorizerRequest

__all__ = ["handler"]

# With provisioned concurrency the init phase runs ahead of traffic: load PyJWT there.
clients.warm_if_provisioned(lambda: importlib.import_module("jwt"))


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    if is_http_authorizer_event(event):
        return _http(HttpAuthorizerRequest.from_event(event), config)
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
        context=identity.to_socket_context(),
    )


def _http(request: HttpAuthorizerRequest, config: Config) -> dict[str, Any]:
    logger.append_keys(route=request.route_key)
    answer, reason = authorize_route(request, verifier_for(config))
    if answer["isAuthorized"]:
        logger.info("request allowed", extra={"user": answer["context"]["userId"]})
    else:
        logger.info("request refused", extra={"reason": reason})
    return answer
