"""The circuit breaker's state machine (pure logic: a hand-driven clock stands in for time)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicelens.consumer.circuit_breaker import BreakerPolicy, CircuitBreaker, CircuitState

POLICY = BreakerPolicy(
    failure_ratio=0.5,
    window=10,
    min_calls=4,
    consecutive_failures=3,
    cool_down=2.0,
    max_cool_down=8.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(
    policy: BreakerPolicy = POLICY,
) -> tuple[CircuitBreaker, Clock, list[tuple[CircuitState, CircuitState]]]:
    clock = Clock()
    moves: list[tuple[CircuitState, CircuitState]] = []
    breaker = CircuitBreaker(policy, clock=clock, on_transition=lambda a, b: moves.append((a, b)))
    return breaker, clock, moves


def test_consecutive_failures_open_it_and_successes_in_between_do_not() -> None:
    # A ratio of 1 never trips on a mixed window: only the streak can open it here.
    breaker, _, moves = _breaker(BreakerPolicy(failure_ratio=1.0, consecutive_failures=3))
    for failure in (True, True, False, True, True, False):
        assert breaker.allow()
        breaker.record(failure)
    assert breaker.state is CircuitState.CLOSED
    for _ in range(3):
        breaker.allow()
        breaker.record(True)
    assert breaker.state is CircuitState.OPEN
    assert moves == [(CircuitState.CLOSED, CircuitState.OPEN)]


def test_the_failure_ratio_opens_it_once_enough_calls_were_seen() -> None:
    breaker, _, _ = _breaker()
    for failure in (True, False, True):  # 2 of 3, but fewer than min_calls
        breaker.record(failure)
    assert breaker.state is CircuitState.CLOSED
    breaker.record(False)  # 2 of 4 = the ratio
    assert breaker.state is CircuitState.OPEN


def test_open_it_waits_then_lets_exactly_one_probe_through() -> None:
    breaker, clock, moves = _breaker()
    for _ in range(3):
        breaker.record(True)
    assert not breaker.allow()
    assert breaker.retry_at == pytest.approx(102.0)
    clock.now = 101.9
    assert not breaker.allow()
    clock.now = 102.0
    assert breaker.allow()
    assert breaker.state is CircuitState.HALF_OPEN
    assert not breaker.allow()  # one probe at a time
    assert breaker.probes == 1
    breaker.record(False)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert moves[-2:] == [
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]
    assert breaker.open_seconds() == pytest.approx(2.0)


def test_a_failed_probe_doubles_the_cool_down_up_to_the_cap() -> None:
    breaker, clock, _ = _breaker()
    for _ in range(3):
        breaker.record(True)
    waits = []
    for _ in range(4):
        waits.append(breaker.retry_at - clock.now)
        clock.now = breaker.retry_at
        assert breaker.allow()
        breaker.record(True)
        assert breaker.state is CircuitState.OPEN
    assert waits == [2.0, 4.0, 8.0, 8.0]
    clock.now = breaker.retry_at
    assert breaker.allow()
    breaker.record(False)
    for _ in range(3):  # closed again: the next trip starts from the base cool-down
        breaker.record(True)
    assert breaker.retry_at - clock.now == 2.0


def test_answers_to_requests_sent_before_it_opened_change_nothing() -> None:
    breaker, _, moves = _breaker()
    for _ in range(3):
        breaker.record(True)
    breaker.record(False)
    breaker.record(True)
    assert breaker.state is CircuitState.OPEN
    assert len(moves) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_ratio": 0.0},
        {"failure_ratio": 1.5},
        {"window": 5, "min_calls": 6},
        {"consecutive_failures": 0},
        {"cool_down": 10.0, "max_cool_down": 5.0},
    ],
)
def test_a_policy_that_cannot_work_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ask", "ok", "fail"]), st.floats(0, 5)), max_size=200))
def test_invariants_under_any_sequence(steps: list[tuple[str, float]]) -> None:
    breaker, clock, moves = _breaker()
    outstanding = 0  # requests let through and not yet answered
    for action, dt in steps:
        clock.now += dt
        before = breaker.state
        if action == "ask":
            allowed = breaker.allow()
            if before is CircuitState.OPEN and clock.now < breaker.retry_at:
                assert not allowed
            if allowed:
                outstanding += 1
            if breaker.state is CircuitState.HALF_OPEN and allowed:
                assert not breaker.allow()  # never a second probe while one is out
        elif outstanding:
            outstanding -= 1
            breaker.record(action == "fail")
            if before is CircuitState.HALF_OPEN:
                expected = CircuitState.OPEN if action == "fail" else CircuitState.CLOSED
                assert breaker.state is expected
    # Transitions chain: each starts where the last ended, and CLOSED is left only for OPEN.
    for (_, b), (c, _) in itertools.pairwise(moves):
        assert b is c
    assert all(b is CircuitState.OPEN for a, b in moves if a is CircuitState.CLOSED)
    assert breaker.open_seconds() >= 0
