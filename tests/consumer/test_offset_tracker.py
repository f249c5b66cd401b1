"""The commit point is the lowest unfinished offset, whatever order records finish in."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicelens.consumer.offset_tracker import OffsetTracker


def test_out_of_order_completion_commits_only_the_contiguous_prefix() -> None:
    t = OffsetTracker(10)
    for o in range(10, 15):
        t.take(o)
    assert t.commit_point == 10
    assert t.finish(12) is False
    assert t.finish(11) is False
    assert t.commit_point == 10
    assert t.finish(10) is True
    assert t.commit_point == 13
    t.finish(14)
    assert t.commit_point == 13
    t.finish(13)
    assert t.commit_point == 15
    assert t.in_flight == 0


def test_gaps_in_offsets_and_skip_to() -> None:
    t = OffsetTracker(0)
    t.take(0)
    t.take(5)  # 1..4 were transaction markers / aborted: never delivered to us
    t.finish(0)
    assert t.commit_point == 5
    t.finish(5)
    t.skip_to(7)
    assert t.commit_point == 7
    t.take(7)
    t.skip_to(9)  # something pending: must not move past it
    assert t.commit_point == 7


def test_taking_out_of_order_is_a_bug() -> None:
    t = OffsetTracker(0)
    t.take(3)
    with pytest.raises(ValueError, match="out of order"):
        t.take(2)


@given(st.integers(1, 60), st.randoms())
def test_any_completion_order_ends_at_the_end(n: int, rnd: random.Random) -> None:
    t = OffsetTracker(0)
    for o in range(n):
        t.take(o)
    order = list(range(n))
    rnd.shuffle(order)
    finished: set[int] = set()
    for o in order:
        t.finish(o)
        finished.add(o)
        point = t.commit_point
        assert point is not None
        assert all(x in finished for x in range(point))  # never past an unfinished one
        assert point == n or point not in finished
    assert t.commit_point == n
