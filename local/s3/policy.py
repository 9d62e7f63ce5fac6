"""What real S3 checks on pre-signed requests and moto does not: pure functions, no I/O.

:func:`check_post` takes a browser-form POST (its fields, the file's length, the bucket, the time,
a secret-key lookup) and answers None (store it) or the :class:`S3Error` S3 would: the SigV4
signature over the base64 policy, its expiration, every condition (``eq``, ``starts-with``,
``content-length-range``), and that every field is covered by a condition.

:func:`check_presigned_url` does the same for a query-string-signed request (a pre-signed GET):
``X-Amz-Expires`` and the SigV4 signature over the canonical request.

:func:`error_xml` renders an error in S3's XML body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

__all__ = [
    "ALGORITHM",
    "S3Error",
    "SecretLookup",
    "check_post",
    "check_presigned_url",
    "error_xml",
    "signing_key",
]

ALGORITHM = "AWS4-HMAC-SHA256"
SecretLookup = Callable[[str], str | None]

# Form fields no policy condition needs to name (S3's documented exceptions).
_EXEMPT = {"x-amz-signature", "file", "policy", "awsaccesskeyid", "signature"}


@dataclass(frozen=True)
class S3Error:
    """An S3 error response: HTTP status, ``Code``, ``Message`` and any extra XML elements."""

    status: int
    code: str
    message: str
    extra: dict[str, str] = field(default_factory=dict)


def error_xml(error: S3Error, *, request_id: str | None = None) -> bytes:
    extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in error.extra.items())
    rid = request_id or uuid.uuid4().hex[:16].upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>{extra}"
        f"<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
    ).encode()


def _denied(message: str) -> S3Error:
    return S3Error(403, "AccessDenied", message)


def _policy_failed(condition: Any) -> S3Error:
    return _denied(f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}")


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _credential(value: str) -> tuple[str, str, str, str] | None:
    """``AKID/yyyymmdd/region/s3/aws4_request`` -> (akid, date, region, service)."""
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts[0], parts[1], parts[2], parts[3]


def _parse_time(value: str) -> datetime | None:
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


# ---- browser-form POST -------------------------------------------------------------------------


def check_post(
    fields: Mapping[str, str],
    *,
    content_length: int,
    bucket: str,
    now: datetime,
    secret_for: SecretLookup,
    filename: str | None = None,
) -> S3Error | None:
    """None when S3 would store this POST upload; else the error S3 would answer.

    ``fields`` are the form fields before the file (names as sent), ``content_length`` is the
    file's length, ``filename`` the file part's name (for ``${filename}`` in the key).
    """
    form = {k.lower(): v for k, v in fields.items()}
    if "key" not in form:
        return S3Error(
            400,
            "InvalidArgument",
            "Bucket POST must contain a field named 'key'.",
            {"ArgumentName": "key", "ArgumentValue": ""},
        )
    if filename is not None and "${filename}" in form["key"]:
        form["key"] = form["key"].replace("${filename}", filename)
    encoded = form.get("policy")
    if encoded is None:
        # An anonymous upload: the bucket is private.
        return _denied("Access Denied")
    problem = _check_signature(form, encoded, secret_for)
    if problem is not None:
        return problem
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
        return S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'conditions' value.")
    expiration = _parse_time(str(policy.get("expiration", "")))
    if expiration is None:
        return S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.")
    if now >= expiration:
        return _denied("Invalid according to Policy: Policy expired.")
    return _check_conditions(policy["conditions"], form, bucket, content_length)


def _check_signature(
    form: Mapping[str, str], encoded: str, secret_for: SecretLookup
) -> S3Error | None:
    if form.get("x-amz-algorithm") != ALGORITHM:
        # SigV2 POSTs (AWSAccessKeyId + signature) are not served: boto3 signs with SigV4.
        return S3Error(
            400, "InvalidRequest", f"The policy must be signed with {ALGORITHM} (x-amz-algorithm)."
        )
    credential = _credential(form.get("x-amz-credential", ""))
    if credential is None or "x-amz-date" not in form or "x-amz-signature" not in form:
        return S3Error(
            400,
            "InvalidArgument",
            "a SigV4 POST needs x-amz-credential, x-amz-date and x-amz-signature fields",
        )
    access_key, date, region, service = credential
    secret = secret_for(access_key)
    if secret is None:
        return S3Error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            {"AWSAccessKeyId": access_key},
        )
    expected = _sign(signing_key(secret, date, region, service), encoded)
    if not hmac.compare_digest(expected, form["x-amz-signature"].lower()):
        return _denied(
            "The request signature we calculated does not match the signature you provided."
            " Check your key and signing method."
        )
    return None


def _check_conditions(
    conditions: Sequence[Any], form: Mapping[str, str], bucket: str, content_length: int
) -> S3Error | None:
    values = {**form, "bucket": bucket}
    covered: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict):
            if len(condition) != 1:
                return S3Error(
                    400, "InvalidPolicyDocument", "Invalid Policy: Invalid Simple-Condition."
                )
            ((name, expected),) = condition.items()
            name = str(name).lower()
            covered.add(name)
            if values.get(name) != str(expected):
                return _policy_failed(["eq", f"${name}", expected])
            continue
        if not isinstance(condition, list) or not condition:
            return S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid condition.")
        operator = str(condition[0]).lower()
        if operator == "content-length-range" and len(condition) == 3:
            low, high = int(condition[1]), int(condition[2])
            if content_length > high:
                return S3Error(
                    400,
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    {"ProposedSize": str(content_length), "MaxSizeAllowed": str(high)},
                )
            if content_length < low:
                return S3Error(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    {"ProposedSize": str(content_length), "MinSizeAllowed": str(low)},
                )
            continue
        if operator in ("eq", "starts-with") and len(condition) == 3:
            name = str(condition[1]).lstrip("$").lower()
            covered.add(name)
            actual = values.get(name)
            wanted = str(condition[2])
            if actual is None:
                return _policy_failed(condition)
            if operator == "eq" and actual != wanted:
                return _policy_failed(condition)
            if operator == "starts-with":
                # Content-Type may list several values; each must start with the prefix.
                parts = actual.split(",") if name == "content-type" else [actual]
                if not all(part.strip().startswith(wanted) for part in parts):
                    return _policy_failed(condition)
            continue
        return S3Error(
            400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {condition!r}."
        )
    extra = sorted(
        name
        for name in form
        if name not in covered and name not in _EXEMPT and not name.startswith("x-ignore-")
    )
    if extra:
        return _denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
    return None


# ---- query-string-signed requests (pre-signed GET) ---------------------------------------------


def _canonical_query(query: Sequence[tuple[str, str]]) -> str:
    pairs = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query if k != "X-Amz-Signature"
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def check_presigned_url(
    *,
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    now: datetime,
    secret_for: SecretLookup,
) -> S3Error | None:
    """None when a SigV4 query-signed request is valid now; else S3's error.

    ``raw_path`` is the path as sent (still percent-encoded), ``query`` the decoded pairs in
    order, ``headers`` the request's headers (any case).
    """
    params = dict(query)
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        return S3Error(
            400, "AuthorizationQueryParametersError", f"X-Amz-Algorithm must be {ALGORITHM}"
        )
    credential = _credential(params.get("X-Amz-Credential", ""))
    signed_at = _parse_time(params.get("X-Amz-Date", ""))
    try:
        expires = int(params.get("X-Amz-Expires", ""))
    except ValueError:
        expires = -1
    signature = params.get("X-Amz-Signature", "")
    signed_headers = params.get("X-Amz-SignedHeaders", "")
    if credential is None or signed_at is None or not signature or not signed_headers:
        return S3Error(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters.",
        )
    if not 1 <= expires <= 604800:
        return S3Error(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        )
    if now > signed_at + timedelta(seconds=expires):
        return S3Error(
            403,
            "AccessDenied",
            "Request has expired",
            {
                "X-Amz-Expires": str(expires),
                "Expires": (signed_at + timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    access_key, date, region, service = credential
    secret = secret_for(access_key)
    if secret is None:
        return S3Error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            {"AWSAccessKeyId": access_key},
        )
    lower = {k.lower(): v for k, v in headers.items()}
    names = signed_headers.split(";")
    canonical_headers = "".join(f"{n}:{' '.join(lower.get(n, '').split())}\n" for n in names)
    canonical = "\n".join(
        [
            method.upper(),
            raw_path or "/",
            _canonical_query(query),
            canonical_headers,
            signed_headers,
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    expected = _sign(signing_key(secret, date, region, service), to_sign)
    if not hmac.compare_digest(expected, signature.lower()):
        return S3Error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided."
            " Check your key and signing method.",
            {"AWSAccessKeyId": access_key},
        )
    return None
