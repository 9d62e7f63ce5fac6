"""Physical ids and ``GetAtt`` attributes the way CloudFormation hands them out.

A resource without a name property gets ``{stack}-{LogicalId}-{SUFFIX}`` (shortened to the
service's name limit), API Gateway objects get short lowercase ids. Every id is derived from a
hash of the stack name and the logical id, so loading the same template twice gives the same
names: provisioning is repeatable and a long-running embedded AWS keeps matching the template.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["NAME_PROPERTY", "Naming", "partition_of", "url_suffix_of"]

# The property that, when set, is the resource's name instead of a generated one.
NAME_PROPERTY: dict[str, str] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SSM::Parameter": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::S3::Bucket": "BucketName",
    "AWS::ApiGatewayV2::Stage": "StageName",
}

# Longest generated name each service accepts.
_MAX_NAME: dict[str, int] = {
    "AWS::Serverless::Function": 64,
    "AWS::Lambda::Function": 64,
    "AWS::IAM::Role": 64,
    "AWS::SQS::Queue": 80,
    "AWS::S3::Bucket": 63,
    "AWS::Serverless::LayerVersion": 140,
    "AWS::Lambda::LayerVersion": 140,
}

# Length of the short ids API Gateway gives its objects.
_SHORT_ID: dict[str, int] = {
    "AWS::ApiGatewayV2::Api": 10,
    "AWS::Serverless::Api": 10,
    "AWS::Serverless::HttpApi": 10,
    "AWS::ApiGatewayV2::Route": 7,
    "AWS::ApiGatewayV2::Integration": 7,
    "AWS::ApiGatewayV2::Authorizer": 6,
    "AWS::ApiGatewayV2::Deployment": 6,
    "AWS::ApiGatewayV2::RouteResponse": 6,
    "AWS::ApiGatewayV2::IntegrationResponse": 6,
}

_LAMBDA_FUNCTIONS = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_LAYERS = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
_TABLES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")

# moto and real DynamoDB put a creation timestamp here; the provisioner reports the real one.
STREAM_LABEL = "1970-01-01T00:00:00.000"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def url_suffix_of(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("/".join(parts).encode()).digest()


@dataclass(frozen=True)
class Naming:
    """Names for one stack in one account and region.

    ``sqs_endpoint`` is the scheme and host that queue URLs start with (``!Ref`` of a queue):
    AWS's own (``https://sqs.{region}.amazonaws.com``) unless the caller knows where the
    queues will live, e.g. the embedded moto server's ``http://127.0.0.1:{port}``.
    """

    stack: str
    region: str
    account_id: str
    sqs_endpoint: str | None = None

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def url_suffix(self) -> str:
        return url_suffix_of(self.region)

    def generated_name(self, logical_id: str, type_: str) -> str:
        suffix = base64.b32encode(_digest(self.stack, logical_id)).decode()[:13]
        limit = _MAX_NAME.get(type_, 255)
        prefix = f"{self.stack}-{logical_id}"[: limit - len(suffix) - 1]
        name = f"{prefix}-{suffix}"
        return name.lower() if type_ == "AWS::S3::Bucket" else name

    def short_id(self, logical_id: str, length: int) -> str:
        return base64.b32encode(_digest(self.stack, logical_id, "id")).decode().lower()[:length]

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account_id}:{resource}"

    def queue_url(self, name: str) -> str:
        base = self.sqs_endpoint or f"https://sqs.{self.region}.{self.url_suffix}"
        return f"{base.rstrip('/')}/{self.account_id}/{name}"

    def physical_id(self, logical_id: str, type_: str, prop: Callable[[str], Any]) -> str:
        """What ``!Ref`` returns; ``prop(name)`` gives a resolved property (or None)."""
        if type_ in _SHORT_ID:
            return self.short_id(logical_id, _SHORT_ID[type_])
        name_property = NAME_PROPERTY.get(type_)
        name = prop(name_property) if name_property else None
        if name is None:
            if type_ in _LAYERS:
                name = logical_id  # SAM and CloudFormation name a layer after its logical id
            else:
                name = self.generated_name(logical_id, type_)
                if type_ == "AWS::SQS::Queue" and _truthy(prop("FifoQueue")):
                    name = name[: 80 - len(".fifo")] + ".fifo"
                if type_ == "AWS::SNS::Topic" and _truthy(prop("FifoTopic")):
                    name += ".fifo"
        name = str(name)
        if type_ == "AWS::Lambda::Alias":
            # Locally an alias is its function: invoking it invokes the function.
            return self.arn("lambda", f"function:{prop('FunctionName')}")
        if type_ == "AWS::SQS::Queue":
            return self.queue_url(name)
        if type_ == "AWS::SNS::Topic":
            return self.arn("sns", name)
        if type_ in _LAYERS:
            return self.arn("lambda", f"layer:{name}:1")
        if type_ == "AWS::SecretsManager::Secret":
            return self.arn("secretsmanager", f"secret:{name}-{self.short_id(logical_id, 6)}")
        return name

    def attributes(
        self, logical_id: str, type_: str, physical_id: str, prop: Callable[[str], Any]
    ) -> dict[str, str]:
        """What ``!GetAtt {logical_id}.<name>`` returns, by attribute name."""
        if type_ in _TABLES:
            attributes = {"Arn": self.arn("dynamodb", f"table/{physical_id}")}
            if prop("StreamSpecification") is not None:
                attributes["StreamArn"] = f"{attributes['Arn']}/stream/{STREAM_LABEL}"
            return attributes
        if type_ == "AWS::SQS::Queue":
            name = physical_id.rsplit("/", 1)[-1]
            return {"Arn": self.arn("sqs", name), "QueueName": name, "QueueUrl": physical_id}
        if type_ == "AWS::SNS::Topic":
            return {"TopicArn": physical_id, "TopicName": physical_id.rsplit(":", 1)[-1]}
        if type_ in _LAMBDA_FUNCTIONS:
            return {"Arn": self.arn("lambda", f"function:{physical_id}")}
        if type_ in _LAYERS:
            return {"LayerVersionArn": physical_id}
        if type_ in ("AWS::ApiGatewayV2::Api", "AWS::Serverless::HttpApi"):
            websocket = prop("ProtocolType") == "WEBSOCKET"
            scheme = "wss" if websocket else "https"
            host = f"{physical_id}.execute-api.{self.region}.{self.url_suffix}"
            return {"ApiEndpoint": f"{scheme}://{host}", "ApiId": physical_id}
        if type_ == "AWS::Logs::LogGroup":
            return {"Arn": self.arn("logs", f"log-group:{physical_id}:*")}
        if type_ == "AWS::IAM::Role":
            role_id = "AROA" + self.short_id(logical_id, 17).upper()
            return {"Arn": self.arn("iam", f"role/{physical_id}", region=False), "RoleId": role_id}
        if type_ == "AWS::SSM::Parameter":
            return {"Type": str(prop("Type") or "String"), "Value": str(prop("Value") or "")}
        if type_ == "AWS::S3::Bucket":
            return {
                "Arn": f"arn:{self.partition}:s3:::{physical_id}",
                "DomainName": f"{physical_id}.s3.{self.url_suffix}",
            }
        if type_ == "AWS::SecretsManager::Secret":
            return {"Id": physical_id}
        if type_ == "AWS::ApiGatewayV2::Authorizer":
            return {"AuthorizerId": physical_id}
        if type_ == "AWS::ApiGatewayV2::Route":
            return {"RouteId": physical_id}
        return {}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
