"""The real ``@connections`` client path: botocore over HTTP to moto's stub."""

from __future__ import annotations

from collections.abc import Callable

from chatcore import clients
from chatcore.config import Config
from chatcore.gateway import Outcome
from chatcore.wiring import gateway


def test_real_client_posts_with_a_pool_as_large_as_the_concurrency(
    function_env: Callable[[str], dict[str, str]],
) -> None:
    env = function_env("BroadcastFunction")
    clients.reset()
    config = Config.from_env(env, fanout_concurrency=12)
    real = gateway(config, config.management_endpoint)
    client = clients.management(config.management_endpoint, max_pool_connections=12)
    assert client.max_pool_connections == 12
    assert client.endpoint_url == config.management_endpoint
    # moto's stub accepts every id (it never answers 410: see the fake in tests/support).
    assert real.post_many(["a", "b", "c"], b'{"type":"pong"}') == {
        "a": Outcome.DELIVERED,
        "b": Outcome.DELIVERED,
        "c": Outcome.DELIVERED,
    }
    clients.reset()
