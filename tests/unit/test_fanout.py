from __future__ import annotations

import json

import pytest

from chatcore.fanout import (
    MAX_PAYLOAD_BYTES,
    FanoutResult,
    backoff_delay,
    batch_entries,
    chunk_body,
    parse_chunk,
    plan_fanout,
)
from chatcore.gateway import Gateway, Outcome, PayloadTooLarge
from tests.support.handlers import FakeManagementApi


def test_small_room_is_posted_directly_without_duplicates_or_the_excluded_sender() -> None:
    plan = plan_fanout(["a", "b", "a", "me", "c"], chunk_size=3, exclude=["me"])
    assert plan.direct == ("a", "b", "c")
    assert plan.chunks == ()


def test_room_above_the_chunk_size_is_cut_into_chunks_covering_everyone_once() -> None:
    ids = [f"c{i}" for i in range(1201)]
    plan = plan_fanout(ids, chunk_size=500)
    assert plan.direct == ()
    assert [len(c) for c in plan.chunks] == [500, 500, 201]
    assert [cid for chunk in plan.chunks for cid in chunk] == ids


def test_exactly_chunk_size_members_stay_direct() -> None:
    assert len(plan_fanout([str(i) for i in range(500)], chunk_size=500).direct) == 500
    with pytest.raises(ValueError):
        plan_fanout(["a"], chunk_size=0)


def test_chunk_body_round_trips() -> None:
    payload = json.dumps({"type": "message", "text": "héllo"}).encode()
    body = chunk_body(payload, ["a", "b"])
    assert parse_chunk(body) == (payload, ["a", "b"])


@pytest.mark.parametrize(
    "body",
    ["[]", "{}", '{"payload": 1, "connectionIds": []}', '{"payload": "x", "connectionIds": [""]}'],
)
def test_parse_chunk_refuses_what_is_not_a_chunk(body: str) -> None:
    with pytest.raises(ValueError):
        parse_chunk(body)


def test_batches_respect_the_sqs_count_and_size_limits() -> None:
    bodies = [f"body-{i}" for i in range(23)]
    batches = batch_entries(bodies)
    assert [len(b) for b in batches] == [10, 10, 3]
    big = ["x" * 100_000] * 5
    assert [len(b) for b in batch_entries(big)] == [2, 2, 1]
    with pytest.raises(ValueError):
        batch_entries(["x" * (256 * 1024 + 1)])


def test_backoff_is_full_jitter_and_capped() -> None:
    highs = [backoff_delay(a, base=0.1, cap=1.0, rand=lambda lo, hi: hi) for a in range(6)]
    assert highs == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff_delay(3, rand=lambda lo, hi: lo) == 0.0
    for attempt in range(8):
        assert 0.0 <= backoff_delay(attempt) <= 1.0


def test_result_merge_adds_counts() -> None:
    merged = FanoutResult(delivered=2, gone=1, gone_ids=["x"]).merge(
        FanoutResult(delivered=1, throttled=1, failed=1, queued_chunks=2, gone=1, gone_ids=["y"])
    )
    assert merged.as_dict() == {
        "delivered": 3,
        "gone": 2,
        "throttled": 1,
        "failed": 1,
        "queuedChunks": 2,
    }
    assert merged.gone_ids == ["x", "y"]


# ---- Gateway: outcomes of post_to_connection -----------------------------------------------


def make_gateway(api: FakeManagementApi, **options: object) -> tuple[Gateway, list[float]]:
    sleeps: list[float] = []
    gateway = Gateway(api, concurrency=4, sleep=sleeps.append, **options)  # type: ignore[arg-type]
    return gateway, sleeps


def test_each_connection_gets_its_outcome() -> None:
    api = FakeManagementApi()
    api.gone.add("stale")
    api.throttle["busy"] = 100
    gateway, sleeps = make_gateway(api, max_attempts=3)
    outcomes = gateway.post_many(["ok1", "stale", "busy", "ok2"], b"hi")
    assert outcomes == {
        "ok1": Outcome.DELIVERED,
        "stale": Outcome.GONE,
        "busy": Outcome.THROTTLED,
        "ok2": Outcome.DELIVERED,
    }
    assert api.posted["ok1"] == [b"hi"] and api.posted["ok2"] == [b"hi"]
    assert api.attempts["stale"] == 1  # 410 is final: never retried
    assert api.attempts["busy"] == 3
    assert len(sleeps) == 2


def test_throttled_post_is_retried_with_backoff_then_delivered() -> None:
    api = FakeManagementApi()
    api.throttle["c"] = 2
    delays: list[int] = []
    gateway, sleeps = make_gateway(api, delay=lambda attempt: delays.append(attempt) or 0.5)
    assert gateway.post("c", b"x") is Outcome.DELIVERED
    assert delays == [0, 1]
    assert sleeps == [0.5, 0.5]


def test_other_errors_are_failures_not_retries() -> None:
    class Broken(FakeManagementApi):
        def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, object]:
            from botocore.exceptions import ClientError

            raise ClientError(
                {
                    "Error": {"Code": "ForbiddenException"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "PostToConnection",
            )

    gateway, sleeps = make_gateway(Broken())
    assert gateway.post("c", b"x") is Outcome.FAILED
    assert sleeps == []


def test_gone_is_recognised_by_status_even_without_the_modelled_class() -> None:
    from botocore.exceptions import ClientError

    class Plain:
        def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:
            raise ClientError(
                {"Error": {"Code": "GoneException"}, "ResponseMetadata": {"HTTPStatusCode": 410}},
                "PostToConnection",
            )

    assert Gateway(Plain()).post("c", b"x") is Outcome.GONE


def test_payload_over_128_kb_is_refused_before_any_post() -> None:
    api = FakeManagementApi()
    gateway, _ = make_gateway(api)
    gateway.post("c", b"x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadTooLarge):
        gateway.post("c", b"x" * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(PayloadTooLarge):
        gateway.post_many(["a", "b"], b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert api.attempts["c"] == 1
    assert "a" not in api.attempts


def test_many_posts_run_in_parallel_but_each_id_once() -> None:
    api = FakeManagementApi()
    gateway, _ = make_gateway(api)
    ids = [f"c{i}" for i in range(50)] + ["c1"]
    outcomes = gateway.post_many(ids, b"m")
    assert len(outcomes) == 50
    assert all(o is Outcome.DELIVERED for o in outcomes.values())
    assert sum(len(v) for v in api.posted.values()) == 50
