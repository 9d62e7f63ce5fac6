"""The cost model: counted traffic -> billed usage -> dollars, and its one price table."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from client.cost import (
    MEMORY_MB,
    WORKLOADS,
    Traffic,
    Usage,
    estimate,
    local_durations,
    rows,
    traffic_from_load,
    usage_for,
    websocket_units,
)
from client.prices import PRICES

ROOT = Path(__file__).resolve().parents[2]


def test_websocket_messages_are_metered_in_32_kb_units() -> None:
    assert [websocket_units(n) for n in (0, 1, 32 * 1024, 32 * 1024 + 1, 100_000)] == [
        1,
        1,
        1,
        2,
        4,
    ]


def test_prices_name_their_region_and_date() -> None:
    assert PRICES.region == "us-east-1" and PRICES.as_of.startswith("2026")


def test_estimate_prices_each_meter() -> None:
    usage = Usage(
        websocket_messages=2_000_000,
        connection_minutes=4_000_000,
        lambda_requests={"ChatFunction": 1_000_000},
        lambda_gb_seconds={"ChatFunction": 10_000},
        dynamodb_write_units=1_000_000,
        dynamodb_read_units=8_000_000,
        sqs_requests=1_000_000,
        sns_requests=2_000_000,
    )
    result = estimate(usage, messages=1_000_000)
    dollars = {line.what: round(line.dollars, 6) for line in result.lines}
    assert dollars == {
        "API Gateway messages": 2.0,
        "API Gateway connection time": 1.0,
        "Lambda requests": 0.2,
        "Lambda compute": round(10_000 * 0.0000133334, 6),
        "DynamoDB writes": 0.625,
        "DynamoDB reads": 1.0,
        "SQS": 0.4,
        "SNS": 1.0,
    }
    assert result.per_million_messages == pytest.approx(result.total)
    assert rows(result)[-1] == ("per million messages", "", f"${result.total:,.2f}")
    assert estimate(usage, messages=0).per_million_messages is None


def test_usage_counts_frames_minutes_lambda_and_table_units() -> None:
    traffic = Traffic(
        connections=10,
        connected_seconds=61,  # two started minutes each
        joins=10,
        sends=100,
        deliveries=1000,
        members_per_message=10,
        presence_events=90,
    )
    usage = usage_for(traffic)
    # In: 10 joins + 100 sends; out: 10 joined + 100 acks + 1000 deliveries + 90 presence.
    assert usage.websocket_messages == 1310
    assert usage.connection_minutes == 20
    assert usage.lambda_requests["ChatFunction"] == 110
    assert usage.lambda_requests["AuthorizerFunction"] == 10
    assert usage.lambda_requests["FanoutFunction"] == 0 and usage.sqs_requests == 0
    # 100 ms measured for every chat call: 110 x 0.1 s x 0.25 GB.
    measured = usage_for(traffic, durations_ms={"ChatFunction": 100.0})
    assert measured.measured and not usage.measured
    assert measured.lambda_gb_seconds["ChatFunction"] == pytest.approx(110 * 0.1 * 0.25)


def test_a_big_room_goes_through_sqs_chunks_and_reads_its_members() -> None:
    small = usage_for(
        Traffic(
            connections=1,
            connected_seconds=60,
            joins=0,
            sends=1,
            deliveries=10,
            members_per_message=10,
        )
    )
    big = usage_for(
        Traffic(
            connections=1,
            connected_seconds=60,
            joins=0,
            sends=1,
            deliveries=1000,
            members_per_message=1000,
        )
    )
    assert big.lambda_requests["FanoutFunction"] == 4  # 1,000 members in chunks of 250
    assert big.sqs_requests == 12
    assert big.dynamodb_read_units > small.dynamodb_read_units + 30  # a 150 KB member Query


def test_memory_sizes_are_the_templates() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506
    default = template["Globals"]["Function"]["MemorySize"]
    for name, mb in MEMORY_MB.items():
        assert template["Resources"][name]["Properties"].get("MemorySize", default) == mb, name


def test_a_load_test_summary_becomes_traffic() -> None:
    summary = {
        "config": {"rooms": 2, "size": 100},
        "connections": {"connected": 20},
        "messages": {"acked": 50, "delivered": 500},
        "seconds": {"total": 30.0},
    }
    traffic = traffic_from_load(summary)
    assert (traffic.connections, traffic.joins, traffic.sends, traffic.deliveries) == (
        20,
        20,
        50,
        500,
    )
    assert traffic.members_per_message == 10
    assert traffic.presence_events == 2 * 10 * 9  # each join and leave seen by the others


def test_durations_are_measured_only_where_a_local_stack_answers() -> None:
    # API Gateway (wss://) is never asked; a ws:// URL with nothing behind it gives none.
    assert local_durations("wss://abc123.execute-api.us-east-1.amazonaws.com/prod") is None
    assert local_durations("https://example.com/dev") is None
    assert local_durations("ws://127.0.0.1:9/dev", timeout=0.5) is None  # nothing listens


def test_reference_workloads_the_readme_quotes() -> None:
    results = {w.name: estimate(usage_for(w.traffic), messages=w.traffic.sends) for w in WORKLOADS}
    dm, room = results["DM-heavy"], results["big room"]
    assert dm.per_million_messages is not None and room.per_million_messages is not None
    # A 1,000-member room pays for every delivery: API Gateway messages dominate.
    assert room.per_million_messages > 50 * dm.per_million_messages
    biggest = max(room.lines, key=lambda line: line.dollars)
    assert biggest.what == "API Gateway messages"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for result in (dm, room):
        assert f"**${result.total:,.2f}**" in readme
