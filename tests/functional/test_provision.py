"""The provisioner against a real moto server: what the template declares is what AWS answers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.model import Stack
from local.provision import ProvisionResult, provision
from local.template import load_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


@pytest.fixture
def fixture_stack(aws_endpoint: str) -> Stack:
    return load_stack(FIXTURES / "provision.yaml", stack_name="prov", sqs_endpoint=aws_endpoint)


@pytest.fixture
def provisioned(aws_endpoint: str, fixture_stack: Stack) -> ProvisionResult:
    return provision(fixture_stack, endpoint_url=aws_endpoint)


def _queue_attributes(url: str) -> dict[str, str]:
    attributes: dict[str, str] = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["All"]
    )["Attributes"]
    return attributes


def _receive_all(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


# --------------------------------------------------------------------------------------------------
# template.yaml, as the functional fixtures provision it
# --------------------------------------------------------------------------------------------------


def test_app_tables_have_the_keys_index_stream_ttl_and_recovery_of_the_template(
    stack_resources: dict[str, str],
) -> None:
    dynamodb = boto3.client("dynamodb")
    connections = dynamodb.describe_table(TableName=stack_resources["ConnectionsTable"])["Table"]
    assert [k["AttributeName"] for k in connections["KeySchema"]] == ["pk", "sk"]
    by_user, by_expiry = sorted(
        connections["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"] != "ByUser"
    )
    assert by_expiry["IndexName"] == "ByTokenExpiry"
    assert [k["AttributeName"] for k in by_expiry["KeySchema"]] == ["expiryBucket", "tokenExp"]
    assert by_user["IndexName"] == "ByUser"
    assert [k["AttributeName"] for k in by_user["KeySchema"]] == ["ownerId", "pk"]
    assert connections["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    messages = dynamodb.describe_table(TableName=stack_resources["MessagesTable"])["Table"]
    assert messages["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    for table in ("ConnectionsTable", "MessagesTable"):
        ttl = dynamodb.describe_time_to_live(TableName=stack_resources[table])
        assert ttl["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expiresAt",
        }
    backups = dynamodb.describe_continuous_backups(TableName=stack_resources["MessagesTable"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_app_queues_redrive_to_the_dead_letter_queue(stack_resources: dict[str, str]) -> None:
    fanout = _queue_attributes(stack_resources["FanoutQueue"])
    dead_letters = _queue_attributes(stack_resources["FanoutDeadLetterQueue"])
    redrive = json.loads(fanout["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_letters["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    assert fanout["VisibilityTimeout"] == "180"


def test_app_topic_exists_under_the_arn_the_functions_are_given(
    stack: Stack, stack_resources: dict[str, str]
) -> None:
    topics = boto3.client("sns").list_topics()["Topics"]
    assert {"TopicArn": stack_resources["NotificationsTopic"]} in topics
    assert stack.outputs["NotificationsTopicArn"] == stack_resources["NotificationsTopic"]


def test_provisioning_again_keeps_data_and_reports_the_same_ids(
    aws_endpoint: str, stack: Stack, stack_resources: dict[str, str]
) -> None:
    dynamodb = boto3.client("dynamodb")
    table = stack_resources["ConnectionsTable"]
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "CONN#a"}, "sk": {"S": "META"}})
    boto3.client("sqs").send_message(QueueUrl=stack_resources["FanoutQueue"], MessageBody="x")

    again = provision(stack, endpoint_url=aws_endpoint)

    assert {k: v for k, v in stack_resources.items() if k in again.physical_ids} == (
        again.physical_ids
    )
    assert "Item" in dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "CONN#a"}, "sk": {"S": "META"}}
    )
    assert len(_receive_all(stack_resources["FanoutQueue"])) == 1


def test_stream_arn_reported_is_the_one_dynamodb_streams_serves(
    aws_endpoint: str, stack: Stack, stack_resources: dict[str, str]
) -> None:
    result = provision(stack, endpoint_url=aws_endpoint)
    arn = result.stream_arns["MessagesTable"]
    description = boto3.client("dynamodbstreams").describe_stream(StreamArn=arn)
    assert description["StreamDescription"]["TableName"] == stack_resources["MessagesTable"]
    assert set(result.stream_arns) == {"MessagesTable"}


def test_seeded_ssm_parameters_are_secure_strings(aws_endpoint: str, stack: Stack) -> None:
    key = "local-development-only-hs256-key-0123456789abcdef"
    result = provision(stack, endpoint_url=aws_endpoint, ssm_parameters={"/chat/local/k": key})
    assert result.ssm_parameters == ["/chat/local/k"]
    ssm = boto3.client("ssm")
    answer = ssm.get_parameter(Name="/chat/local/k", WithDecryption=True)["Parameter"]
    assert (answer["Type"], answer["Value"]) == ("SecureString", key)
    provision(stack, endpoint_url=aws_endpoint, ssm_parameters={"/chat/local/k": key + "2"})
    assert ssm.get_parameter(Name="/chat/local/k", WithDecryption=True)["Parameter"]["Value"] == (
        key + "2"
    )


# --------------------------------------------------------------------------------------------------
# Fixture template: the other shapes a template can declare
# --------------------------------------------------------------------------------------------------


def test_indexes_billing_and_simple_tables_are_created_as_declared(
    fixture_stack: Stack, provisioned: ProvisionResult
) -> None:
    dynamodb = boto3.client("dynamodb")
    events = dynamodb.describe_table(TableName=provisioned.physical_ids["Events"])["Table"]
    assert [i["IndexName"] for i in events["GlobalSecondaryIndexes"]] == ["ByKind"]
    assert [i["IndexName"] for i in events["LocalSecondaryIndexes"]] == ["ByTime"]
    assert events["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    counters = dynamodb.describe_table(TableName="fixture-counters")["Table"]
    assert provisioned.physical_ids["Counters"] == "fixture-counters"
    throughput = counters["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (2, 3)
    simple = dynamodb.describe_table(TableName=provisioned.physical_ids["Simple"])["Table"]
    assert simple["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert simple["AttributeDefinitions"] == [{"AttributeName": "key", "AttributeType": "N"}]


def test_fifo_queue_keeps_its_fifo_attributes(provisioned: ProvisionResult) -> None:
    url = provisioned.physical_ids["Ordered"]
    assert url.endswith(".fifo")
    attributes = _queue_attributes(url)
    assert (attributes["FifoQueue"], attributes["ContentBasedDeduplication"]) == ("true", "true")


def test_sns_to_sqs_subscription_delivers_with_filter_and_attributes(
    fixture_stack: Stack, provisioned: ProvisionResult
) -> None:
    sns = boto3.client("sns")
    topic = provisioned.physical_ids["Alerts"]
    for severity in ("low", "high"):
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"severity": severity}),
            MessageAttributes={"severity": {"DataType": "String", "StringValue": severity}},
        )
    (delivered,) = _receive_all(provisioned.physical_ids["Work"])
    envelope = json.loads(delivered["Body"])
    assert json.loads(envelope["Message"]) == {"severity": "high"}
    assert envelope["MessageAttributes"]["severity"]["Value"] == "high"


def test_unsupported_resources_are_reported_not_raised(provisioned: ProvisionResult) -> None:
    assert sorted(provisioned.not_emulated) == [
        "Alarm (AWS::CloudWatch::Alarm)",
        "AlertsToWebhook (SNS subscription, protocol https)",
    ]
    assert "/fixture/setting" in provisioned.physical_ids.values()
    value = boto3.client("ssm").get_parameter(Name="/fixture/setting")["Parameter"]["Value"]
    assert value == "enabled"


def test_a_second_run_subscribes_once_and_applies_changed_queue_settings(
    aws_endpoint: str, fixture_stack: Stack, provisioned: ProvisionResult
) -> None:
    work = fixture_stack.resources["Work"]
    changed = dataclasses.replace(
        fixture_stack,
        resources={
            **fixture_stack.resources,
            "Work": dataclasses.replace(
                work, properties={**work.properties, "VisibilityTimeout": 90}
            ),
        },
    )
    again = provision(changed, endpoint_url=aws_endpoint)
    assert again.physical_ids == provisioned.physical_ids
    assert _queue_attributes(provisioned.physical_ids["Work"])["VisibilityTimeout"] == "90"
    topic = provisioned.physical_ids["Alerts"]
    subscriptions = boto3.client("sns").list_subscriptions_by_topic(TopicArn=topic)
    assert [s["Protocol"] for s in subscriptions["Subscriptions"]] == ["sqs"]


def test_arns_are_those_of_the_endpoint_even_when_the_template_was_loaded_for_another_account(
    aws_endpoint: str,
) -> None:
    # As against real AWS: the template's ARNs name account 111..., the endpoint's are 123....
    stack = load_stack(
        FIXTURES / "provision.yaml",
        stack_name="elsewhere",
        account_id="111111111111",
        sqs_endpoint=aws_endpoint,
    )
    result = provision(stack, endpoint_url=aws_endpoint)
    work, dead_letters = result.physical_ids["Work"], result.physical_ids["WorkDeadLetters"]
    redrive = json.loads(_queue_attributes(work)["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == _queue_attributes(dead_letters)["QueueArn"]
    assert (
        result.real_arns[stack.resources["Work"].attributes["Arn"]]
        == (_queue_attributes(work)["QueueArn"])
    )
    boto3.client("sns").publish(
        TopicArn=result.physical_ids["Alerts"],
        Message="x",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}},
    )
    assert len(_receive_all(work)) == 1
