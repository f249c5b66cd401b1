"""Turn times for a block at once equal the per-turn rules applied call by call (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest

from voicelens.producer.turn_times import (
    MAX_TURNS,
    STORY_FIELDS,
    TURN_FIELDS,
    TurnPlan,
    turn_times,
)


def _one_call(
    r: list[float],
    lengths: list[int],
    cps: float,
    duration: int,
    first: float,
    work: list[int],
    overlap_at: int,
) -> tuple[list[float], list[float], bool]:
    """The per-turn rules, one call, written as a plain loop; also whether the call was short."""
    n = len(lengths)
    speak = [max(0.6, k / cps) for k in lengths]
    gaps = [0.0] + [0.3 + 0.9 * r[STORY_FIELDS + TURN_FIELDS * t + 1] for t in range(1, n)]
    available = duration - first - (0.3 + 1.2 * r[24])
    talk = sum(speak)
    pause = sum(gaps)
    pace = min(1.35, max(0.85, (available - pause) / talk))
    left = available - pace * talk - pause
    if left < 0:
        pace = min(pace, 0.9 * available / talk)
        scale = (available - pace * talk) / pause
        gaps = [g * scale for g in gaps]
    else:
        extra = min(30.0, left / len(work)) if work else 0.0
        left -= extra * len(work)
        scale = (pause + left) / pause
        gaps = [g * scale for g in gaps]
        for t in work:
            gaps[t] += extra
    begins, ends = [], []
    now, previous = first, 0.0
    for t in range(n):
        now += gaps[t]
        begin = now
        length = speak[t] * pace
        if t == overlap_at:
            begin -= gaps[t] + min(1.2, 0.35 * previous)
        now += length
        begins.append(round(begin, 2))
        ends.append(round(now, 2))
        previous = length
    return begins, ends, left < 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_block_times_equal_the_per_call_rules(seed: int) -> None:
    rng = np.random.default_rng(seed)
    calls = 3000
    r = rng.random((calls, STORY_FIELDS + TURN_FIELDS * MAX_TURNS))
    plan = TurnPlan()
    expected_begins: list[float] = []
    expected_ends: list[float] = []
    short = 0
    for row in range(calls):
        n = int(rng.integers(2, MAX_TURNS + 1))
        lengths = rng.integers(1, 220, n).tolist()
        cps = float(rng.choice([14.0, 15.5, 16.0]))
        # Short calls (faster speech, shorter gaps) as well as long ones (work beats, pauses).
        duration = int(rng.integers(20, 900))
        first = round(float(rng.random() * 3), 1)
        work = sorted(rng.choice(np.arange(1, n), size=int(rng.integers(0, 3))).tolist())
        overlap_at = int(rng.integers(1, n)) if rng.random() < 0.3 else -1
        b, e, was_short = _one_call(
            r[row].tolist(), lengths, cps, duration, first, work, overlap_at
        )
        short += was_short
        expected_begins += b
        expected_ends += e
        plan.turns.append(n)
        plan.chars_per_second.append(cps)
        plan.overlap_at.append(overlap_at)
        plan.duration.append(duration)
        plan.first_response.append(first)
        plan.lengths += lengths
        plan.work_call += [row] * len(work)
        plan.work_turn += work
    begins, ends = turn_times(plan, r)
    assert begins == expected_begins
    assert ends == expected_ends
    # Both paths were taken: short calls, and calls with time to spare.
    assert 100 < short < calls - 100
