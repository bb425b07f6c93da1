"""Backoff (``handler.backoff``): exponential from the base, capped, jittered by the draw passed in."""

from __future__ import annotations

import pytest

from handler.backoff import backoff_s


def lowest(low: float, _high: float) -> float:
    return low


def highest(_low: float, high: float) -> float:
    return high


def test_the_ceiling_doubles_from_the_base_with_each_attempt():
    assert [backoff_s(n, 2.0, 600.0, rand=highest) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]


def test_the_ceiling_is_capped_at_the_maximum():
    assert [backoff_s(n, 2.0, 10.0, rand=highest) for n in (3, 4, 5, 30)] == [8.0, 10.0, 10.0, 10.0]


def test_full_jitter_never_waits_less_than_the_base():
    assert [backoff_s(n, 2.0, 600.0, rand=lowest) for n in (1, 2, 5)] == [2.0, 2.0, 2.0]


def test_the_draw_is_asked_for_a_wait_between_the_base_and_the_ceiling():
    asked: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        asked.append((low, high))
        return (low + high) / 2

    assert backoff_s(3, 2.0, 600.0, rand=record) == 5.0
    assert asked == [(2.0, 8.0)]


def test_attempt_zero_or_less_waits_the_base():
    assert backoff_s(0, 2.0, 600.0, rand=highest) == 2.0
    assert backoff_s(-3, 2.0, 600.0, rand=highest) == 2.0


def test_a_maximum_below_the_base_wins():
    assert backoff_s(1, 10.0, 4.0, rand=lowest) == 4.0
    assert backoff_s(1, 10.0, 4.0, rand=highest) == 4.0


def test_a_zero_base_means_no_wait():
    assert backoff_s(5, 0.0, 0.0) == 0.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 8, 20])
def test_the_default_draw_is_uniform_between_the_base_and_the_ceiling(attempt):
    ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
    for _ in range(50):
        assert 2.0 <= backoff_s(attempt, 2.0, 600.0) <= ceiling
