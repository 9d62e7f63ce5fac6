"""local.s3.policy: the checks real S3 makes on pre-signed POSTs and GETs, on what boto3 signs."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.config import Config

from local.s3.policy import S3Error, check_post, check_presigned_url, error_xml

BUCKET = "attachments"
KEY = "rooms/lobby/0123456789abcdef0123456789abcdef/cat.png"
SECRETS = {"testing": "testing-secret"}


def s3(secret: str = "testing-secret") -> Any:
    return boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:4566",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def presigned_post(size: int = 100, expires: int = 600, **kwargs: Any) -> dict[str, str]:
    post = s3(**kwargs).generate_presigned_post(
        BUCKET,
        KEY,
        Fields={"Content-Type": "image/png"},
        Conditions=[{"Content-Type": "image/png"}, ["content-length-range", size, size]],
        ExpiresIn=expires,
    )
    fields: dict[str, str] = post["fields"]
    return fields


def check(
    fields: dict[str, str], length: int = 100, *, now: datetime | None = None
) -> S3Error | None:
    return check_post(
        fields,
        content_length=length,
        bucket=BUCKET,
        now=now or datetime.now(UTC),
        secret_for=SECRETS.get,
    )


def test_the_upload_boto3_presigned_is_accepted() -> None:
    assert check(presigned_post()) is None


def test_a_file_larger_or_smaller_than_the_range_is_refused_with_s3_s_codes() -> None:
    fields = presigned_post(size=100)
    too_large = check(fields, 101)
    assert too_large == S3Error(
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        {"ProposedSize": "101", "MaxSizeAllowed": "100"},
    )
    too_small = check(fields, 99)
    assert too_small is not None and (too_small.status, too_small.code) == (400, "EntityTooSmall")


def test_an_expired_policy_is_access_denied() -> None:
    fields = presigned_post(expires=60)
    later = datetime.now(UTC) + timedelta(seconds=61)
    error = check(fields, now=later)
    assert error is not None and (error.status, error.code) == (403, "AccessDenied")
    assert "Policy expired" in error.message


def test_a_policy_signed_with_another_secret_is_access_denied() -> None:
    error = check(presigned_post(secret="not-the-secret"))
    assert error is not None and (error.status, error.code) == (403, "AccessDenied")
    assert "signature" in error.message


def test_a_forged_policy_under_a_genuine_signature_is_access_denied() -> None:
    fields = presigned_post(size=100)
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [
        c
        if not (isinstance(c, list) and c[0] == "content-length-range")
        else ["content-length-range", 1, 10**9]
        for c in policy["conditions"]
    ]
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    error = check(fields, 10**6)
    assert error is not None and error.code == "AccessDenied"


@pytest.mark.parametrize(
    ("field", "value", "failed"),
    [
        ("key", "rooms/lobby/other/evil.html", '["eq", "$key"'),
        ("Content-Type", "text/html", '["eq", "$content-type"'),
    ],
)
def test_a_field_that_differs_from_its_condition_fails_the_policy(
    field: str, value: str, failed: str
) -> None:
    fields = presigned_post()
    fields[field] = value
    error = check(fields)
    assert error is not None and error.code == "AccessDenied"
    assert "Policy Condition failed" in error.message and failed in error.message


def test_another_bucket_fails_the_bucket_condition() -> None:
    error = check_post(
        presigned_post(),
        content_length=100,
        bucket="other-bucket",
        now=datetime.now(UTC),
        secret_for=SECRETS.get,
    )
    assert error is not None and '"$bucket"' in error.message


def test_fields_no_condition_covers_are_refused_except_the_exempt_ones() -> None:
    fields = presigned_post()
    assert check({**fields, "x-ignore-trace": "1"}) is None
    error = check({**fields, "acl": "public-read"})
    assert error is not None and error.message.endswith("Extra input fields: acl")


def test_starts_with_conditions() -> None:
    post = s3().generate_presigned_post(
        BUCKET,
        "uploads/${filename}",
        Conditions=[
            ["starts-with", "$key", "uploads/"],
            ["starts-with", "$Content-Type", "image/"],
        ],
        ExpiresIn=60,
    )
    fields = {**post["fields"], "Content-Type": "image/png"}
    ok = check_post(
        fields,
        content_length=5,
        bucket=BUCKET,
        now=datetime.now(UTC),
        secret_for=SECRETS.get,
        filename="a.png",
    )
    assert ok is None
    fields["Content-Type"] = "text/html"
    assert check(fields, 5) is not None


def test_unknown_keys_and_anonymous_posts_are_refused() -> None:
    fields = presigned_post()
    assert check({k: v for k, v in fields.items() if k != "policy"}) == S3Error(
        403, "AccessDenied", "Access Denied"
    )
    unknown = check_post(
        fields, content_length=100, bucket=BUCKET, now=datetime.now(UTC), secret_for={}.get
    )
    assert unknown is not None and unknown.code == "InvalidAccessKeyId"


def test_errors_render_as_s3_xml() -> None:
    body = error_xml(S3Error(400, "EntityTooLarge", "too big & bad", {"MaxSizeAllowed": "5"}))
    text = body.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge')
    assert "<Message>too big &amp; bad</Message><MaxSizeAllowed>5</MaxSizeAllowed>" in text


# ---- pre-signed GET -----------------------------------------------------------------------------


def presigned_get(expires: int = 300, **kwargs: Any) -> str:
    url: str = s3(**kwargs).generate_presigned_url(
        "get_object",
        Params={
            "Bucket": BUCKET,
            "Key": "rooms/lobby/x/a b+c.png",
            "ResponseContentDisposition": 'inline; filename="a.png"',
        },
        ExpiresIn=expires,
    )
    return url


def check_get(url: str, *, now: datetime | None = None, method: str = "GET") -> S3Error | None:
    parts = urlsplit(url)
    return check_presigned_url(
        method=method,
        raw_path=parts.path,
        query=parse_qsl(parts.query, keep_blank_values=True),
        headers={"Host": parts.netloc},
        now=now or datetime.now(UTC),
        secret_for=SECRETS.get,
    )


def test_a_presigned_get_is_accepted_until_it_expires() -> None:
    url = presigned_get(expires=30)
    assert check_get(url) is None
    expired = check_get(url, now=datetime.now(UTC) + timedelta(seconds=31))
    assert expired is not None and (expired.status, expired.code, expired.message) == (
        403,
        "AccessDenied",
        "Request has expired",
    )


def test_a_tampered_or_wrongly_signed_get_does_not_match() -> None:
    url = presigned_get()
    for forged in (
        url.replace("a.png%22", "evil.html%22"),
        url.replace("/rooms/lobby/", "/rooms/other/"),
        presigned_get(secret="wrong"),
    ):
        error = check_get(forged)
        assert error is not None and (error.status, error.code) == (403, "SignatureDoesNotMatch")
    assert check_get(url, method="DELETE") is not None
