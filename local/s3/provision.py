"""Create an ``AWS::S3::Bucket`` as CloudFormation would: access block, encryption, CORS, lifecycle.

Idempotent, like the rest of ``local.provision``. The bucket's notification configuration is *not*
put on the embedded AWS: moto would call its own Lambda backend (which runs nothing here) and send
an ``s3:TestEvent``; the local S3 front (``local.s3.front``) runs the template's S3 events instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from local.model import Resource

__all__ = ["create_bucket", "cors_rules", "lifecycle_rules"]


def cors_rules(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's ``CorsConfiguration.CorsRules`` in the S3 API's shape."""
    renames = {
        "AllowedHeaders": "AllowedHeaders",
        "AllowedMethods": "AllowedMethods",
        "AllowedOrigins": "AllowedOrigins",
        "ExposedHeaders": "ExposeHeaders",
        "MaxAge": "MaxAgeSeconds",
        "Id": "ID",
    }
    rules = []
    for rule in (props.get("CorsConfiguration") or {}).get("CorsRules") or []:
        out = {renames[k]: v for k, v in rule.items() if k in renames}
        if "MaxAgeSeconds" in out:
            out["MaxAgeSeconds"] = int(out["MaxAgeSeconds"])
        rules.append(out)
    return rules


def lifecycle_rules(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's ``LifecycleConfiguration.Rules`` in the S3 API's shape."""
    rules = []
    for rule in (props.get("LifecycleConfiguration") or {}).get("Rules") or []:
        tags = [{"Key": t["Key"], "Value": str(t["Value"])} for t in rule.get("TagFilters") or []]
        prefix = rule.get("Prefix")
        if tags and (prefix or len(tags) > 1):
            filter_: dict[str, Any] = {
                "And": {"Tags": tags, **({"Prefix": prefix} if prefix else {})}
            }
        elif tags:
            filter_ = {"Tag": tags[0]}
        else:
            filter_ = {"Prefix": prefix or ""}
        out: dict[str, Any] = {"Status": rule.get("Status", "Enabled"), "Filter": filter_}
        if rule.get("Id"):
            out["ID"] = rule["Id"]
        if rule.get("ExpirationInDays") is not None:
            out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        abort = rule.get("AbortIncompleteMultipartUpload")
        if abort:
            out["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(abort["DaysAfterInitiation"])
            }
        rules.append(out)
    return rules


def create_bucket(client: Callable[[str], Any], resource: Resource, result: Any) -> str:
    s3 = client("s3")
    name = resource.physical_id
    props = resource.properties
    request: dict[str, Any] = {"Bucket": name}
    region = s3.meta.region_name
    if region and region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={k: bool(v) for k, v in block.items()},
        )
    encryption = props.get("BucketEncryption")
    if encryption:
        # CloudFormation says ServerSideEncryptionByDefault, the S3 API Apply...ByDefault.
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **(
                    {"BucketKeyEnabled": bool(rule["BucketKeyEnabled"])}
                    if "BucketKeyEnabled" in rule
                    else {}
                ),
            }
            for rule in encryption["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    cors = cors_rules(props)
    if cors:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": cors})
    lifecycle = lifecycle_rules(props)
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": lifecycle}
        )
    return name
