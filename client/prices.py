"""The AWS prices the cost estimates use: one table, its region and the date it was read.

us-east-1, on-demand list prices as published in November 2026 (arm64 Lambda, the template's
architecture). Prices change and differ by region: check the pricing pages named below before
quoting a figure, and edit this file (only this file) when they move.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRICES", "Prices"]


@dataclass(frozen=True, kw_only=True)
class Prices:
    region: str
    as_of: str
    # API Gateway WebSocket: https://aws.amazon.com/api-gateway/pricing/
    websocket_per_million_messages: float  # metered in 32 KB units, both directions
    websocket_per_million_connection_minutes: float
    http_api_per_million_requests: float
    # Lambda (arm64): https://aws.amazon.com/lambda/pricing/
    lambda_per_million_requests: float
    lambda_per_gb_second: float
    lambda_provisioned_per_gb_second: float  # provisioned concurrency, per GB-s configured
    lambda_provisioned_duration_per_gb_second: float  # invocations served by it
    # DynamoDB on-demand: https://aws.amazon.com/dynamodb/pricing/on-demand/
    dynamodb_per_million_write_units: float
    dynamodb_per_million_read_units: float
    # SQS standard / SNS standard: https://aws.amazon.com/sqs/pricing/, /sns/pricing/
    sqs_per_million_requests: float  # one request per 64 KB chunk
    sns_per_million_requests: float


PRICES = Prices(
    region="us-east-1",
    as_of="2026-11",
    websocket_per_million_messages=1.00,
    websocket_per_million_connection_minutes=0.25,
    http_api_per_million_requests=1.00,
    lambda_per_million_requests=0.20,
    lambda_per_gb_second=0.0000133334,
    lambda_provisioned_per_gb_second=0.0000033334,
    lambda_provisioned_duration_per_gb_second=0.0000077778,
    dynamodb_per_million_write_units=0.625,
    dynamodb_per_million_read_units=0.125,
    sqs_per_million_requests=0.40,
    sns_per_million_requests=0.50,
)
