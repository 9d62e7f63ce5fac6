"""The local stack: runs a SAM template (a WebSocket API, HTTP APIs, Python functions) on one
machine.

No AWS account and no Docker: an API Gateway-like WebSocket gateway, the ``@connections``
management API, HTTP APIs (payload format 2.0, with JWT and Lambda authorizers and a local OIDC
issuer), Lambda-like worker processes, event-source pollers for DynamoDB Streams / SNS / SQS, a
TTL sweeper, and an embedded moto server that the handlers reach with real boto3 clients.
"""
