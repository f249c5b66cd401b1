"""When each transcript turn starts and ends, for a whole block of calls at once.

The rules (see ``producer/transcript.py``): the first turn starts at ``first_response_sec``;
each turn speaks for its text's length over the language's characters per second, times a
pace; turn ``t`` > 0 waits a gap drawn from its own uniform; what is left of the call goes to
the agent's work beats (at most 30 s each) and then to longer gaps; a short call speaks faster
and waits less; an interrupting caller starts before the agent's turn ends.

Every call's turns sit in one row of a ``(calls, MAX_TURNS)`` array, padded with zeros that
change no sum. The float operations are the per-call rules' own, in the same order: sums and
running times are ``cumsum`` along the row (sequential, like the loop they replace), so the
results are the very floats a per-turn loop gives (pinned by tests/producer/test_block_columns.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from voicelens.producer.vcp import round_cents

__all__ = ["MAX_TURNS", "STORY_FIELDS", "TURN_FIELDS", "TurnPlan", "turn_times"]

#: Uniform fields per record before the turns' (the story's), and per turn (line, gap, noise).
STORY_FIELDS = 26
TURN_FIELDS = 3
MAX_TURNS = 16
#: The longest a look-up, dispatch or hold lasts, in seconds.
_MAX_WORK = 30.0
#: The uniform that sets how long before the call's end the last turn ends.
_TAIL_FIELD = 24


@dataclass(slots=True)
class TurnPlan:
    """What a block's calls say, collected call by call, for :func:`turn_times`."""

    #: Per call: the number of turns, characters per second, where an interruption falls (-1:
    #: none), the call's duration and first response.
    turns: list[int] = field(default_factory=list)
    chars_per_second: list[float] = field(default_factory=list)
    overlap_at: list[int] = field(default_factory=list)
    duration: list[int] = field(default_factory=list)
    first_response: list[float] = field(default_factory=list)
    #: Every turn's text length, call after call.
    lengths: list[int] = field(default_factory=list)
    #: (call, turn) of every work beat, in the order the call's story lists them (a turn may
    #: appear twice: it then gets the work time twice).
    work_call: list[int] = field(default_factory=list)
    work_turn: list[int] = field(default_factory=list)


def turn_times(plan: TurnPlan, r: npt.NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """Every turn's start and end, rounded to 0.01 s, call after call; ``r`` is the block's
    story uniforms (one row per call)."""
    calls = len(plan.turns)
    n = np.asarray(plan.turns, dtype=np.int64)
    valid = np.arange(MAX_TURNS)[None, :] < n[:, None]
    lengths = np.zeros((calls, MAX_TURNS), dtype=np.float64)
    lengths[valid] = plan.lengths
    cps = np.asarray(plan.chars_per_second, dtype=np.float64)
    speak = np.where(valid, np.maximum(0.6, lengths / cps[:, None]), 0.0)
    gaps = np.zeros((calls, MAX_TURNS), dtype=np.float64)
    # Turn t's gap draw is r[STORY_FIELDS + TURN_FIELDS * t + 1]; the first turn has none.
    drawn = r[:, STORY_FIELDS + TURN_FIELDS + 1 :: TURN_FIELDS][:, : MAX_TURNS - 1]
    gaps[:, 1:] = 0.3 + 0.9 * drawn
    gaps = np.where(valid, gaps, 0.0)
    first = np.asarray(plan.first_response, dtype=np.float64)
    duration = np.asarray(plan.duration, dtype=np.int64)
    available = duration - first - (0.3 + 1.2 * r[:, _TAIL_FIELD])
    talk = np.cumsum(speak, axis=1)[:, -1]
    pause = np.cumsum(gaps, axis=1)[:, -1]
    pace = np.minimum(1.35, np.maximum(0.85, (available - pause) / talk))
    left = available - pace * talk - pause
    short = left < 0
    # A short call: people speak faster and wait less.
    pace = np.where(short, np.minimum(pace, 0.9 * available / talk), pace)
    # Otherwise the rest is the agent working where the story has such a beat, then longer
    # pauses everywhere.
    work = np.bincount(np.asarray(plan.work_call, dtype=np.int64), minlength=calls).astype(
        np.float64
    )
    extra = np.where(work > 0, np.minimum(_MAX_WORK, left / np.maximum(work, 1.0)), 0.0)
    rest = left - extra * work
    scale = np.where(short, (available - pace * talk) / pause, (pause + rest) / pause)
    gaps = gaps * scale[:, None]
    work_call = np.asarray(plan.work_call, dtype=np.int64)
    work_turn = np.asarray(plan.work_turn, dtype=np.int64)
    keep = ~short[work_call]
    # Unbuffered: a turn listed twice gets both additions, one after the other.
    np.add.at(gaps, (work_call[keep], work_turn[keep]), extra[work_call[keep]])
    length = speak * pace[:, None]
    # The running time: first response, then gap, turn, gap, turn ... summed in that order.
    steps = np.zeros((calls, 1 + 2 * MAX_TURNS), dtype=np.float64)
    steps[:, 0] = first
    steps[:, 1::2] = gaps
    steps[:, 2::2] = length
    running = np.cumsum(steps, axis=1)
    begins = running[:, 1::2]
    ends = running[:, 2::2]
    overlap_at = np.asarray(plan.overlap_at, dtype=np.int64)
    who = np.flatnonzero(overlap_at >= 0)
    if len(who):
        # The caller talks over the end of the agent's turn.
        t = overlap_at[who]
        begins[who, t] = begins[who, t] - (
            gaps[who, t] + np.minimum(1.2, 0.35 * length[who, t - 1])
        )
    return round_cents(begins[valid]), round_cents(ends[valid])
