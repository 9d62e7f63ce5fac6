"""A lean ``@connections`` client: ``post_to_connection`` at a third of boto3's CPU cost.

Fan-out is one POST per recipient, and boto3 spends about 1.5 ms of CPU on each (request
serialisation, event hooks, retries, response parsing) for a call whose request is a URL and a
body. Over thousands of recipients that is the fan-out's whole cost, on Lambda (billed time)
and locally (two cores). This client keeps what matters from botocore: the same credentials
chain, SigV4 signing by botocore's own ``SigV4Auth``, and errors raised as botocore
``ClientError`` with the same ``Error.Code`` and HTTP status, so :class:`chatcore.gateway.Gateway`
treats it exactly like the boto3 client. The HTTP is urllib3 (which botocore itself uses), with
a pool sized to the fan-out's concurrency and ``AWS_CA_BUNDLE`` honoured.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError, EndpointConnectionError

__all__ = ["ConnectionsApi"]

_SERVICE = "execute-api"
# What API Gateway's status codes mean when an answer carries no error type.
_CODES = {
    403: "ForbiddenException",
    410: "GoneException",
    413: "PayloadTooLargeException",
    429: "LimitExceededException",
}


class ConnectionsApi:
    """``POST {endpoint}/@connections/{id}`` signed with SigV4; see the module docstring."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        max_pool_connections: int = 32,
        region: str | None = None,
        session: Any = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
    ) -> None:
        self._base = endpoint_url.rstrip("/")
        self.endpoint_url = self._base
        self.max_pool_connections = max(1, max_pool_connections)
        if session is None:
            from chatcore.clients import session as container_session

            session = container_session()
        self._region = (
            region or session.get_config_variable("region") or os.environ.get("AWS_REGION")
        ) or "us-east-1"
        self._credentials = session.get_credentials()
        self._http = urllib3.PoolManager(
            maxsize=self.max_pool_connections,
            block=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
            ca_certs=os.environ.get("AWS_CA_BUNDLE") or _default_ca_bundle(),
        )
        self._host = urlsplit(self._base).netloc

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        return self._send("POST", ConnectionId, Data, "PostToConnection")

    def delete_connection(self, *, ConnectionId: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        """``DELETE @connections/{id}``: API Gateway closes the socket (204; 410 when gone)."""
        return self._send("DELETE", ConnectionId, b"", "DeleteConnection")

    def _send(self, method: str, connection_id: str, data: bytes, operation: str) -> dict[str, Any]:
        url = f"{self._base}/@connections/{quote(connection_id, safe='')}"
        request = AWSRequest(method=method, url=url, data=data, headers={"Host": self._host})
        if self._credentials is not None:
            # Frozen per call: Lambda's credentials rotate, and the chain refreshes them.
            SigV4Auth(self._credentials.get_frozen_credentials(), _SERVICE, self._region).add_auth(
                request
            )
        try:
            reply = self._http.request(
                method, url, body=data, headers=dict(request.headers.items())
            )
        except urllib3.exceptions.HTTPError as exc:
            raise EndpointConnectionError(endpoint_url=url, error=exc) from None
        if 200 <= reply.status < 300:
            return {"ResponseMetadata": {"HTTPStatusCode": reply.status}}
        raise ClientError(_error_response(reply), operation)

    def close(self) -> None:
        """Close the pooled connections (a Lambda never needs to; tests and tools do)."""
        self._http.clear()


def _default_ca_bundle() -> str:
    # The roots botocore verifies AWS with (certifi's), so TLS checks match boto3's.
    from botocore.httpsession import get_cert_path

    return str(get_cert_path(True))


def _error_response(reply: Any) -> dict[str, Any]:
    """The shape botocore gives a modelled error: ``Error.Code`` from ``x-amzn-ErrorType``."""
    code = str(reply.headers.get("x-amzn-ErrorType", "")).split(":", 1)[0]
    message = ""
    try:
        body = json.loads(reply.data or b"{}")
        message = str(body.get("message") or body.get("Message") or "")
        code = code or str(body.get("__type", "")).rsplit("#", 1)[-1]
    except ValueError:
        pass
    if not code:
        code = {
            410: "GoneException",
            413: "PayloadTooLargeException",
            429: "LimitExceededException",
            403: "ForbiddenException",
        }.get(reply.status, str(reply.status))
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": reply.status, "HTTPHeaders": dict(reply.headers)},
    }
