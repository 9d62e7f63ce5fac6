"""Create a stack's tables, topics, queues, subscriptions, buckets and SSM parameters through boto3.

Works against any endpoint (the embedded moto server, a long-running one, or AWS) and is
idempotent: what already exists is kept and brought up to date, so a second run does not fail.
Functions, APIs, permissions, roles, log groups and layers need nothing here (the runtime and the
gateway serve them); any other resource type is reported in ``not_emulated``, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.model import Resource, Stack
from local.s3.provision import create_bucket

__all__ = ["ProvisionResult", "provision"]

_SERVED_ELSEWHERE = (
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
    "AWS::Lambda::Alias",  # locally an alias is its function
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Serverless::LayerVersion",
    "AWS::Lambda::LayerVersion",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::Serverless::HttpApi",  # served by local.httpapi
)

# CloudFormation queue properties that are SQS attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


@dataclass
class ProvisionResult:
    """What exists after :func:`provision`."""

    physical_ids: dict[str, str] = field(default_factory=dict)  # logical id -> name / URL / ARN
    stream_arns: dict[str, str] = field(default_factory=dict)  # table logical id -> real stream
    # The template's ARN -> the endpoint's, for queues and topics: they differ when the endpoint's
    # account or region is not the one the template was loaded with (e.g. real AWS).
    real_arns: dict[str, str] = field(default_factory=dict)
    ssm_parameters: list[str] = field(default_factory=list)  # names seeded
    not_emulated: list[str] = field(default_factory=list)  # "LogicalId (Type)"


ClientFactory = Callable[[str], Any]


def provision(
    stack: Stack,
    *,
    session: boto3.Session | None = None,
    endpoint_url: str | None = None,
    clients: Mapping[str, Any] | None = None,
    ssm_parameters: Mapping[str, str] | None = None,
) -> ProvisionResult:
    """Create everything ``stack`` declares that lives in AWS data services.

    Clients come from ``clients`` (by service name) when given, else from ``session`` (default:
    a new one in the stack's region) with ``endpoint_url`` (default: ``AWS_ENDPOINT_URL``).
    ``ssm_parameters`` are seeded as SecureStrings (e.g. the dev JWT secret).
    """
    session = session or boto3.Session(region_name=stack.region)
    made: dict[str, Any] = dict(clients or {})

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(
                service, region_name=stack.region, endpoint_url=endpoint_url
            )
        return made[service]

    result = ProvisionResult()
    for resource in _ordered(stack):
        create = _CREATORS.get(resource.type)
        if create is not None:
            result.physical_ids[resource.logical_id] = create(client, resource, result)
        elif resource.type == "AWS::SNS::Subscription":
            _subscription(client, resource, result)
        elif not (
            resource.type in _SERVED_ELSEWHERE or resource.type.startswith("AWS::ApiGatewayV2::")
        ):
            result.not_emulated.append(f"{resource.logical_id} ({resource.type})")
    for name, value in (ssm_parameters or {}).items():
        client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        result.ssm_parameters.append(name)
    return result


def _ordered(stack: Stack) -> list[Resource]:
    """Dead-letter queues first, then the queues naming them, topics, subscriptions.

    Each step may need the real ARN of something an earlier one created.
    """

    def rank(resource: Resource) -> int:
        if resource.type == "AWS::SQS::Queue":
            return 1 if resource.properties.get("RedrivePolicy") else 0
        return {"AWS::SNS::Topic": 2, "AWS::SNS::Subscription": 3}.get(resource.type, 0)

    return sorted(stack.resources.values(), key=rank)


# --------------------------------------------------------------------------------------------------
# DynamoDB
# --------------------------------------------------------------------------------------------------


def _table(client: ClientFactory, resource: Resource, result: ProvisionResult) -> str:
    dynamodb = client("dynamodb")
    props = resource.properties
    name = resource.physical_id
    if resource.type == "AWS::Serverless::SimpleTable":
        props = _simple_table(props)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            request[key] = [_index(index, request["BillingMode"]) for index in props[key]]
    stream = props.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    if props.get("Tags"):
        request["Tags"] = props["Tags"]
    try:
        dynamodb.create_table(**request)
    except ClientError as error:
        if _code(error) != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled")).lower() == "true":
        _enable_ttl(dynamodb, name, ttl["AttributeName"])
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if str(pitr.get("PointInTimeRecoveryEnabled")).lower() == "true":
        try:
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        except ClientError:
            pass  # best effort: recovery points matter on AWS, not for running locally
    if stream:
        table = dynamodb.describe_table(TableName=name)["Table"]
        result.stream_arns[resource.logical_id] = table["LatestStreamArn"]
    return name


def _simple_table(props: Mapping[str, Any]) -> dict[str, Any]:
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    kind = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
    out: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "BillingMode": "PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
    }
    if props.get("ProvisionedThroughput"):
        out["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    return out


def _throughput(value: Mapping[str, Any] | None) -> dict[str, int]:
    value = value or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    return {key: int(value[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _index(index: Mapping[str, Any], billing_mode: str) -> dict[str, Any]:
    out = {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
    if billing_mode == "PROVISIONED" and "ProvisionedThroughput" in index:
        out["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return out


def _enable_ttl(dynamodb: Any, table: str, attribute: str) -> None:
    current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )


# --------------------------------------------------------------------------------------------------
# SQS and SNS
# --------------------------------------------------------------------------------------------------


def _queue(client: ClientFactory, resource: Resource, result: ProvisionResult) -> str:
    sqs = client("sqs")
    name = resource.attributes["QueueName"]
    props = dict(resource.properties)
    if isinstance(props.get("RedrivePolicy"), dict):
        redrive = dict(props["RedrivePolicy"])
        target = str(redrive.get("deadLetterTargetArn", ""))
        redrive["deadLetterTargetArn"] = result.real_arns.get(target, target)
        props["RedrivePolicy"] = redrive
    attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    try:
        url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except ClientError as error:
        if _code(error) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        # Exists with other attributes (the template changed): bring it up to date.
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        settable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
        if settable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
    real = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    result.real_arns[resource.attributes["Arn"]] = str(real["QueueArn"])
    return url


def _attribute(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _topic(client: ClientFactory, resource: Resource, result: ProvisionResult) -> str:
    sns = client("sns")
    props = resource.properties
    name = resource.attributes["TopicName"]
    attributes = {
        key: _attribute(props[key])
        for key in ("DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId")
        if key in props
    }
    arn = str(sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])
    result.real_arns[resource.physical_id] = arn
    for i, inline in enumerate(props.get("Subscription") or []):
        label = f"{resource.logical_id}.Subscription[{i}]"
        _subscribe(sns, arn, inline["Protocol"], inline["Endpoint"], {}, result, label)
    return arn


def _subscription(client: ClientFactory, resource: Resource, result: ProvisionResult) -> None:
    props = resource.properties
    attributes = {
        key: _attribute(props[key])
        for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy")
        if key in props
    }
    topic, endpoint = str(props["TopicArn"]), str(props["Endpoint"])
    arn = _subscribe(
        client("sns"),
        result.real_arns.get(topic, topic),
        props["Protocol"],
        result.real_arns.get(endpoint, endpoint),
        attributes,
        result,
        resource.logical_id,
    )
    if arn:
        result.physical_ids[resource.logical_id] = arn


def _subscribe(
    sns: Any,
    topic_arn: str,
    protocol: str,
    endpoint: str,
    attributes: Mapping[str, str],
    result: ProvisionResult,
    label: str,
) -> str | None:
    # Lambda subscriptions are the runtime's SNS event source; moto would run nothing for them.
    if protocol == "lambda":
        return None
    if protocol != "sqs":
        result.not_emulated.append(f"{label} (SNS subscription, protocol {protocol})")
        return None
    existing = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    for subscription in existing:
        if subscription["Protocol"] == protocol and subscription["Endpoint"] == endpoint:
            arn = str(subscription["SubscriptionArn"])
            for key, value in attributes.items():
                sns.set_subscription_attributes(
                    SubscriptionArn=arn, AttributeName=key, AttributeValue=value
                )
            return arn
    response = sns.subscribe(
        TopicArn=topic_arn,
        Protocol=protocol,
        Endpoint=endpoint,
        Attributes=dict(attributes),
        ReturnSubscriptionArn=True,
    )
    return str(response["SubscriptionArn"])


def _parameter(client: ClientFactory, resource: Resource, result: ProvisionResult) -> str:
    props = resource.properties
    client("ssm").put_parameter(
        Name=resource.physical_id,
        Value=str(props.get("Value", "")),
        Type=str(props.get("Type", "String")),
        Overwrite=True,
    )
    return resource.physical_id


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


_CREATORS: dict[str, Callable[[ClientFactory, Resource, ProvisionResult], str]] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::Serverless::SimpleTable": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::SSM::Parameter": _parameter,
    "AWS::S3::Bucket": create_bucket,
}
