"""DynamoDB's JSON protocol answered by moto's handlers without the Flask app in between.

Profiled (cProfile over 2,000 ``GetItem`` through the server's WSGI app), moto's own DynamoDB
work was under half of each request; the rest was the way there:

* **Finding the backend.** ``DomainDispatcherApplication.get_application`` lists moto's package
  directory (``os.listdir`` + an ``isdir`` per service, about 110 ``stat`` calls) twice per
  request, through ``moto.backends.list_of_moto_modules``, to match the host against service
  names: 30 % of the request. The list cannot change while the server runs; it is read once.
* **Flask around the handler.** A request context, URL routing, form parsing, ``flask_cors``'s
  after-request hook and a ``Response`` object, for a request whose handler is known from its
  ``X-Amz-Target`` header alone: another quarter.

:func:`wrap` takes a DynamoDB or DynamoDB Streams request signed for ``dynamodb`` (what boto3
sends: ``POST /`` with ``X-Amz-Target: DynamoDB_20120810.<Op>``) straight to the handler class
moto's URL map names for it (``DynamoHandler.dispatch``, ``DynamoDBStreamsHandler.dispatch``),
with the same normalised request class moto's Flask app builds (``BackendRequest``), and answers
what ``convert_to_flask_response`` and the CORS hook would: the handler's status, headers and
body, a ``ClientError`` as a 400 with its message, the default ``text/html`` content type when
the handler sets none, and ``Access-Control-Allow-Origin: *`` unless moto's global CORS is off.
A request from a browser (``Origin``), with another path, method or signing service, or any
other service, goes through moto's Flask app as before. tests/e2e/test_moto_speedups.py compares
the answers byte for byte with and without this path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["install", "wrap"]

_TARGETS = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.")


def install() -> None:
    """Read moto's list of service packages once (it lists a directory per call)."""
    import moto.backends as backends

    if getattr(backends.list_of_moto_modules, "_cached", False):
        return
    listed = backends.list_of_moto_modules

    @functools.lru_cache(maxsize=1)
    def modules() -> tuple[str, ...]:
        return tuple(listed())

    def list_of_moto_modules() -> Iterable[str]:
        return iter(modules())

    list_of_moto_modules._cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
    """A WSGI app answering DynamoDB's JSON protocol directly and the rest through ``app``."""
    from botocore.exceptions import ClientError

    # Flask's Response, as convert_to_flask_response builds: its default type is text/html.
    from flask import Response
    from moto import settings
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.moto_api import recorder
    from moto.moto_server.werkzeug_app import BackendRequest

    handlers = {_TARGETS[0]: DynamoHandler, _TARGETS[1]: DynamoDBStreamsHandler}

    def direct(environ: dict[str, Any], start_response: Any) -> Any:
        handler = _handler_for(environ, handlers)
        if handler is None:
            return app(environ, start_response)
        request = BackendRequest(environ)
        recorder._record_request(request)
        try:
            result = handler.dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        response = Response(response=content, status=status, headers=headers)
        if not settings.DISABLE_GLOBAL_CORS:
            # flask_cors's defaults (origins "*", always_send) for a request without Origin.
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response(environ, start_response)

    return direct


def _handler_for(environ: dict[str, Any], handlers: dict[str, Any]) -> Any:
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if (
        environ.get("REQUEST_METHOD") != "POST"
        or environ.get("PATH_INFO") != "/"
        or "HTTP_ORIGIN" in environ
        or _signing_service(environ.get("HTTP_AUTHORIZATION")) != "dynamodb"
    ):
        return None
    prefix, dot, operation = target.partition(".")
    if not dot or not operation:
        return None
    return handlers.get(prefix + dot)


def _signing_service(auth: str | None) -> str | None:
    """The service of a SigV4 ``Authorization`` header's credential scope, as moto reads it."""
    if not auth:
        return None
    try:
        scope = auth.split(",")[0].split()[1]
        _, _, _region, service, _ = scope.split("/")
    except (IndexError, ValueError):
        return None
    return service.lower()
