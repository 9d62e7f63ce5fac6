"""The attachments bucket as local.provision creates it from template.yaml, read back from moto."""

from __future__ import annotations

import boto3

from local.model import Stack


def test_the_bucket_is_created_private_encrypted_with_cors_and_lifecycle(
    aws_endpoint: str, stack: Stack
) -> None:
    bucket = stack.resources["AttachmentsBucket"].physical_id
    s3 = boto3.client("s3")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (cors,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert cors["AllowedOrigins"] == ["*"] and set(cors["AllowedMethods"]) == {
        "POST",
        "GET",
        "HEAD",
    }
    assert cors["ExposeHeaders"] == ["ETag", "Location"] and cors["MaxAgeSeconds"] == 3000
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["unreferenced-uploads"]["Filter"] == {
        "Tag": {"Key": "referenced", "Value": "false"}
    }
    assert rules["unreferenced-uploads"]["Expiration"] == {"Days": 1}
    assert rules["retention"]["Filter"] == {"Prefix": "rooms/"}
    assert rules["retention"]["Expiration"] == {"Days": 30}
    # moto would call its own Lambda backend and send an s3:TestEvent: the local S3 runs the
    # template's S3 events instead, so no notification configuration is put on the bucket.
    notifications = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "LambdaFunctionConfigurations" not in notifications
