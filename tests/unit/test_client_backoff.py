"""Reconnect delays: exponential, capped, with full jitter."""

from __future__ import annotations

import random

import pytest

from client.backoff import Backoff


def test_delays_stay_within_the_doubling_window() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rand=random.Random(7).random)
    for attempt in range(12):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert 0.0 <= backoff.next() <= ceiling


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    low = Backoff(base=1.0, cap=30.0, rand=lambda: 0.0)
    high = Backoff(base=1.0, cap=30.0, rand=lambda: 1.0)
    assert [low.next() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [high.next() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_spread_is_wide_so_clients_do_not_reconnect_in_waves() -> None:
    rand = random.Random(1).random
    delays = [Backoff(base=1.0, cap=30.0, rand=rand).next() for _ in range(200)]
    assert min(delays) < 0.1 and max(delays) > 0.9


def test_reset_starts_over_after_a_success() -> None:
    backoff = Backoff(base=1.0, cap=30.0, rand=lambda: 1.0)
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert backoff.next() == 1.0


def test_huge_attempt_numbers_do_not_overflow() -> None:
    backoff = Backoff(base=1.0, cap=30.0, rand=lambda: 1.0)
    backoff.attempt = 10_000
    assert backoff.next() == 30.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0.0)
    with pytest.raises(ValueError):
        Backoff(base=5.0, cap=1.0)
