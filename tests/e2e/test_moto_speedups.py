"""The embedded moto's fast paths answer exactly what moto answers without them.

Two ``python -m local.aws_server`` processes, one with ``--no-speedups``, get the same requests
through boto3; every answer (or error) must be the same. The requests cover what the fast paths
touch: Query on a table (key conditions, order, paging, filters, projections of every attribute
type, COUNT), Query on an index, GetItem with and without projection, writes with ReturnValues
and consumed capacity, batches, transactions and their errors.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.aws import ChildMotoServer, EmbeddedAws

TABLE = "t"


def _client(server: ChildMotoServer) -> Any:
    return EmbeddedAws(endpoint_url=server.endpoint_url).start().client("dynamodb")


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Any, Any]]:
    fast, plain = ChildMotoServer(), ChildMotoServer(speedups=False)
    fast.start()
    try:
        plain.start()
        try:
            clients = (_client(fast), _client(plain))
            for ddb in clients:
                _fill(ddb)
            yield clients
        finally:
            plain.stop()
    finally:
        fast.stop()


def _fill(ddb: Any) -> None:
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByOwner",
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "pk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for i in range(60):
        item: dict[str, Any] = {
            "pk": {"S": "ROOM#a" if i % 3 else "ROOM#b"},
            "sk": {"S": f"CONN#{i:03d}"},
            "owner": {"S": f"u{i % 7}"},
            "n": {"N": "1E+2" if i % 5 == 0 else f"{i}.50"},
            "b": {"B": bytes([i, 0, 255])},
            "ok": {"BOOL": i % 2 == 0},
            "tags": {"SS": ["x", f"t{i}"]},
            "nested": {"M": {"deep": {"L": [{"S": "v"}, {"N": str(i)}]}}},
            "pad": {"S": "p" * (i * 300)},
        }
        if i % 4 == 0:
            item["gone"] = {"NULL": True}
        ddb.put_item(TableName=TABLE, Item=item)


def _answer(call: Callable[[], dict[str, Any]]) -> Any:
    try:
        answer = call()
    except Exception as exc:  # the error a client sees, compared as such
        response = getattr(exc, "response", {})
        return ("error", type(exc).__name__, response.get("Error"))
    answer.pop("ResponseMetadata", None)
    return answer


ROOM_A = {":p": {"S": "ROOM#a"}}

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": ROOM_A},
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": ROOM_A,
        "ProjectionExpression": "sk",
    },
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": ROOM_A,
        "ProjectionExpression": "sk, n, b, ok, tags, gone, nested.deep[1], missing",
    },
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": ROOM_A,
        "ProjectionExpression": "#s, ok, gone",
        "ExpressionAttributeNames": {"#s": "sk"},
        "ScanIndexForward": False,
        "Limit": 7,
    },
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {**ROOM_A, ":s": {"S": "CONN#01"}},
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {**ROOM_A, ":lo": {"S": "CONN#010"}, ":hi": {"S": "CONN#040"}},
        "ProjectionExpression": "sk",
        "Limit": 4,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk > :s",
        "ExpressionAttributeValues": {**ROOM_A, ":s": {"S": "CONN#050"}},
        "FilterExpression": "ok = :t",
        "ExpressionAttributeValues_extra": {":t": {"BOOL": True}},
    },
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": ROOM_A,
        "Select": "COUNT",
        "ReturnConsumedCapacity": "TOTAL",
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
    {
        "IndexName": "ByOwner",
        "KeyConditionExpression": "#o = :u",
        "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":u": {"S": "u3"}},
    },
    {
        "IndexName": "ByOwner",
        "KeyConditionExpression": "#o = :u AND pk = :p",
        "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":u": {"S": "u3"}, **ROOM_A},
        "ProjectionExpression": "sk",
        "ScanIndexForward": False,
    },
    {"IndexName": "Nope", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": ROOM_A},
    {"KeyConditionExpression": "sk = :p", "ExpressionAttributeValues": ROOM_A},
]


def _pages(ddb: Any, query: dict[str, Any]) -> list[Any]:
    kwargs = {k: v for k, v in query.items() if not k.endswith("_extra")}
    if "ExpressionAttributeValues_extra" in query:
        kwargs["ExpressionAttributeValues"] = {
            **query["ExpressionAttributeValues"],
            **query["ExpressionAttributeValues_extra"],
        }
    pages = []
    for _ in range(50):
        page = _answer(lambda: ddb.query(TableName=TABLE, **kwargs))
        pages.append(page)
        if not isinstance(page, dict) or "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q["KeyConditionExpression"][:30])
def test_queries_answer_as_moto_does(pair: tuple[Any, Any], query: dict[str, Any]) -> None:
    fast, plain = pair
    expected = _pages(plain, query)
    assert _pages(fast, query) == expected
    assert expected  # the query ran (an answer or an error), on both


def test_a_page_larger_than_a_megabyte_is_cut_where_moto_cuts_it(pair: tuple[Any, Any]) -> None:
    fast, plain = pair
    big = {"pad": {"S": "x" * 390_000}}
    for ddb in pair:
        for i in range(5):
            ddb.put_item(
                TableName=TABLE, Item={"pk": {"S": "ROOM#big"}, "sk": {"S": str(i)}, **big}
            )
    query = {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "ROOM#big"}},
    }
    expected = _pages(plain, query)
    assert len(expected) > 1
    assert _pages(fast, query) == expected


def _item_calls(ddb: Any) -> list[Any]:
    key = {"pk": {"S": "ROOM#a"}, "sk": {"S": "CONN#001"}}
    return [
        _answer(lambda: ddb.get_item(TableName=TABLE, Key=key)),
        _answer(lambda: ddb.get_item(TableName=TABLE, Key=key, ProjectionExpression="pk, n, b")),
        _answer(
            lambda: ddb.get_item(
                TableName=TABLE,
                Key={"pk": {"S": "ROOM#a"}, "sk": {"S": "CONN#999"}},
                ReturnConsumedCapacity="TOTAL",
            )
        ),
        _answer(lambda: ddb.get_item(TableName=TABLE, Key={"pk": {"S": "ROOM#a"}})),
        _answer(
            lambda: ddb.put_item(
                TableName=TABLE,
                Item={**key, "v": {"N": "3"}, "b": {"B": b"\x00\x01"}},
                ReturnValues="ALL_OLD",
                ReturnConsumedCapacity="INDEXES",
            )
        ),
        _answer(
            lambda: ddb.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="ADD v :one SET w = :w",
                ExpressionAttributeValues={":one": {"N": "1"}, ":w": {"L": []}},
                ReturnValues="ALL_NEW",
            )
        ),
        _answer(
            lambda: ddb.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET v = :v",
                ConditionExpression="attribute_not_exists(pk)",
                ExpressionAttributeValues={":v": {"N": "9"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        ),
        _answer(
            lambda: ddb.batch_get_item(
                RequestItems={
                    TABLE: {"Keys": [key, {"pk": {"S": "ROOM#b"}, "sk": {"S": "CONN#000"}}]}
                }
            )
        ),
        _answer(
            lambda: ddb.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": key,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        ),
        _answer(
            lambda: ddb.transact_write_items(
                TransactItems=[{"Delete": {"TableName": TABLE, "Key": key}}],
                ReturnConsumedCapacity="TOTAL",
            )
        ),
        _answer(lambda: ddb.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")),
        _answer(
            lambda: ddb.batch_write_item(
                RequestItems={TABLE: [{"PutRequest": {"Item": {**key, "m": {"M": {}}}}}]}
            )
        ),
        _answer(lambda: ddb.get_item(TableName=TABLE, Key=key)),
    ]


def test_item_operations_answer_as_moto_does(pair: tuple[Any, Any]) -> None:
    fast, plain = pair
    assert _item_calls(fast) == _item_calls(plain)


def test_one_connection_carries_many_requests(pair: tuple[Any, Any]) -> None:
    fast, _ = pair
    host, port = fast.meta.endpoint_url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=host, Signature=0",
    }
    try:
        for _ in range(3):
            conn.request("POST", "/", body=b"{}", headers=headers)
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read()) == {"TableNames": [TABLE]}
            assert not response.will_close
        # A request without a length still gets its answer (and the connection closes).
        conn.putrequest("POST", "/")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"2\r\n{}\r\n0\r\n\r\n")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"TableNames": [TABLE]}
        assert response.will_close
    finally:
        conn.close()


def test_the_server_counts_requests_by_operation(pair: tuple[Any, Any]) -> None:
    fast, _ = pair
    url = f"{fast.meta.endpoint_url}/_local/requests"

    def counts() -> dict[str, int]:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())["requests"]  # type: ignore[no-any-return]

    before = counts().get("DynamoDB_20120810.GetItem", 0)
    for _ in range(3):
        fast.get_item(TableName=TABLE, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
    assert counts()["DynamoDB_20120810.GetItem"] == before + 3


def test_s3_objects_and_their_head_answer_as_moto_does() -> None:
    # The kept-alive HTTP path serves every service, not only DynamoDB.
    servers = (ChildMotoServer(), ChildMotoServer(speedups=False))
    answers = []
    for server in servers:
        server.start()
        try:
            s3 = EmbeddedAws(endpoint_url=server.endpoint_url).start().client("s3")
            s3.create_bucket(Bucket="files")
            s3.put_object(
                Bucket="files", Key="a.txt", Body=b"hello world", ContentType="text/plain"
            )
            head = s3.head_object(Bucket="files", Key="a.txt")
            got = s3.get_object(Bucket="files", Key="a.txt")
            answers.append(
                (
                    head["ContentLength"],
                    head["ContentType"],
                    got["Body"].read(),
                    _answer(lambda s3=s3: s3.head_object(Bucket="files", Key="missing")),
                )
            )
        finally:
            server.stop()
    assert answers[0] == answers[1]
    assert answers[0][:3] == (11, "text/plain", b"hello world")


_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
# Headers that differ from one answer to the next whatever the path: the time, moto's random
# request id, and werkzeug's Connection: close on the path without keep-alive.
_VARYING = {"date", "x-amzn-requestid", "connection"}

RAW_REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    (
        "DynamoDB_20120810.GetItem",
        b'{"TableName": "t", "Key": {"pk": {"S": "ROOM#a"}, '
        b'"sk": {"S": "CONN#001"}}, "ProjectionExpression": "sk, n, ok"}',
        {},
    ),
    ("DynamoDB_20120810.GetItem", b'{"TableName": "missing", "Key": {"pk": {"S": "a"}}}', {}),
    (
        "DynamoDB_20120810.Query",
        b'{"TableName": "t", "KeyConditionExpression": "pk = :p", '
        b'"ExpressionAttributeValues": {":p": {"S": "ROOM#b"}}, "ProjectionExpression": "sk", '
        b'"Limit": 3}',
        {},
    ),
    ("DynamoDB_20120810.Query", b'{"TableName": "t", "KeyConditionExpression": "nope"}', {}),
    (
        "DynamoDB_20120810.UpdateItem",
        b'{"TableName": "t", "Key": {"pk": {"S": "ROOM#z"}, '
        b'"sk": {"S": "x"}}, "UpdateExpression": "ADD c :one", "ExpressionAttributeValues": '
        b'{":one": {"N": "1"}}, "ReturnValues": "ALL_NEW"}',
        {},
    ),
    (
        "DynamoDB_20120810.PutItem",
        b'{"TableName": "t", "Item": {"pk": {"S": "ROOM#z"}, '
        b'"sk": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(pk)"}',
        {},
    ),
    ("DynamoDB_20120810.ListTables", b"{}", {}),
    ("DynamoDB_20120810.NoSuchOperation", b"{}", {}),
    ("DynamoDB_20120810.GetItem", b"{not json", {}),
    ("DynamoDBStreams_20120810.ListStreams", b'{"TableName": "missing"}', {}),
    (
        "DynamoDBStreams_20120810.DescribeStream",
        b'{"StreamArn": "arn:aws:dynamodb:us-east-1:'
        b'123456789012:table/missing/stream/2026-01-01T00:00:00.000"}',
        {},
    ),
    # A browser's request (Origin) goes through moto's Flask app on both servers.
    ("DynamoDB_20120810.ListTables", b"{}", {"Origin": "http://localhost:3000"}),
]


def _raw(url: str, target: str, body: bytes, extra: dict[str, str]) -> Any:
    host, port = url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {
        "X-Amz-Target": target,
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": _AUTH,
        **extra,
    }
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        got = response.read()
        kept = sorted(
            (name.lower(), value)
            for name, value in response.getheaders()
            if name.lower() not in _VARYING
        )
        return response.status, kept, got
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("target", "body", "extra"), RAW_REQUESTS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_dynamodb_answers_are_byte_for_byte_those_of_moto_flask_app(
    pair: tuple[Any, Any], target: str, body: bytes, extra: dict[str, str]
) -> None:
    # The fast server answers DynamoDB's JSON protocol without moto's Flask app
    # (local/moto_direct.py): same status, headers and body as the plain server's.
    fast, plain = pair
    answers = [_raw(ddb.meta.endpoint_url, target, body, extra) for ddb in (fast, plain)]
    assert answers[0] == answers[1]
    status, headers, _ = answers[0]
    assert status in (200, 400, 404, 500)
    assert ("content-length", str(len(answers[0][2]))) in headers
