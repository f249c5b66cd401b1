"""The completion map in commit metadata: exact, compact, always within the broker's limit,
and a member resuming from it skips exactly what was finished (pure logic, hypothesis)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicelens.consumer.offset_tracker import (
    OffsetTracker,
    decode_completed,
    encode_completed,
    span_for,
)

LIMIT = 4096  # the broker's offset.metadata.max.bytes default
SPAN = span_for(LIMIT)


@given(st.integers(0, 2**40), st.sets(st.integers(0, SPAN - 1), max_size=400))
def test_a_map_reads_back_exactly(point: int, rel: set[int]) -> None:
    offsets = {point + r for r in rel}
    text = encode_completed(point, offsets)
    assert decode_completed(point, text) == offsets
    assert text.isascii()
    assert len(text) <= LIMIT


@pytest.mark.parametrize(("point", "start"), [(0, 0), (7, 1), (2**40, 1)])
def test_the_worst_case_within_the_span_still_fits(point: int, start: int) -> None:
    # Alternating finished/unfinished over the whole span is the run-length worst case; the
    # bitset bounds it.
    rel = set(range(start, SPAN, 2))
    text = encode_completed(point, {point + r for r in rel})
    assert len(text) <= LIMIT
    assert decode_completed(point, text) == {point + r for r in rel}


def test_runs_are_compact_in_the_usual_case() -> None:
    # 1,000 finished behind one record in retry: a few bytes, not a bitset.
    text = encode_completed(500, range(501, 1501))
    assert text.startswith("vl1r:")
    assert len(text) < 16
    assert encode_completed(500, []) == ""
    assert encode_completed(500, [10, 499]) == ""  # below the point: already committed


@pytest.mark.parametrize("text", ["vl1r:!!!", "vl1r:AQ", "vl1x:AA", "hello", "vl1b:A"])
def test_metadata_that_is_not_a_map_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="completion map"):
        decode_completed(0, text)


def test_the_span_keeps_the_worst_case_inside_the_limit() -> None:
    assert SPAN == 24_544
    assert span_for(256) < span_for(1024) < SPAN
    with pytest.raises(ValueError, match="no room"):
        span_for(6)


def test_a_tracker_does_not_start_records_beyond_its_span() -> None:
    t = OffsetTracker(span=10)
    for o in range(30):
        t.take(o)
    assert t.within_span(9)
    assert not t.within_span(10)
    for o in range(1, 10):
        t.finish(o)
    assert not t.within_span(10)  # 0 is still unfinished: the point has not moved
    t.finish(0)
    assert t.commit_point == 10
    assert t.within_span(19)


@given(st.integers(1, 80), st.randoms(use_true_random=False), st.floats(0, 1))
def test_a_member_resuming_from_the_map_posts_only_what_was_not_finished(
    n: int, rnd: random.Random, crash_at: float
) -> None:
    first = OffsetTracker(span=SPAN)
    first.restore(0, frozenset())
    for o in range(n):
        first.take(o)
    order = list(range(n))
    rnd.shuffle(order)
    finished = set(order[: int(crash_at * n)])
    for o in finished:
        first.finish(o)
    point = first.commit_point
    assert point is not None
    committed_map = first.completion_map()  # what the crash leaves committed

    second = OffsetTracker(span=SPAN)
    second.restore(point, decode_completed(point, committed_map))
    posted = [o for o in range(point, n) if second.take(o)]
    assert set(posted) == set(range(n)) - finished  # nothing lost, nothing twice
    for o in posted:
        second.finish(o)
    assert second.commit_point == n
    assert second.completion_map() == ""
