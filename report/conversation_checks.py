"""Quality checks of what the calls say: transcript against metadata, language by region,
journeys, and satisfaction against the outcome.

Each function returns ``(passed, detail)`` and adds its figures to ``facts``; ``quality.py``
weighs them. Records are read defensively: a check counts a record it cannot read as a problem.
Seasonality is checked by ``temporal_distribution``: its daily expectation carries the
dataset's seasons and weather.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from voicelens.producer.story import csat_of

__all__ = [
    "SPANISH",
    "conversation_consistency",
    "journey_integrity",
    "language_by_region",
    "satisfaction_vs_outcome",
]

SPANISH = "es-US"
_LISTED = 20
_MIN_PER_STATE = 30


def _payload(doc: Any) -> dict[str, Any]:
    payload = doc.get("vcp_payload") if isinstance(doc, dict) else None
    return payload if isinstance(payload, dict) else {}


def _custom(doc: Any) -> dict[str, Any]:
    custom = _payload(doc).get("custom")
    return custom if isinstance(custom, dict) else {}


def _when(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _turn_problems(payload: dict[str, Any], turns: list[Any]) -> str | None:
    call = payload.get("call") or {}
    metrics = (payload.get("outcomes") or {}).get("objective", {}).get("metrics") or {}
    if not turns or not all(isinstance(t, dict) for t in turns):
        return "empty transcript"
    if turns[0].get("speaker") != "agent":
        return "the caller speaks first"
    first = metrics.get("first_response_sec")
    if first is not None and turns[0].get("start_sec") != first:
        return "first agent turn is not at first_response_sec"
    if turns[-1].get("end_sec", math.inf) > call.get("duration_sec", -1):
        return "a turn ends after the call"
    overlaps = 0
    for a, b in itertools.pairwise(turns):
        if not b.get("start_sec", -1) >= a.get("start_sec", 0):
            return "turns out of order"
        overlaps += b["start_sec"] < a.get("end_sec", 0)
    if any(not t.get("end_sec", 0) > t.get("start_sec", 0) for t in turns):
        return "a turn ends before it starts"
    if overlaps != metrics.get("interruptions"):
        return f"{overlaps} overlapping turns, interruptions says {metrics.get('interruptions')}"
    return None


def _commitment_problem(payload: dict[str, Any], commitment: Any) -> str | None:
    if commitment is None:
        return None
    start = _when(commitment.get("window_start"))
    end = _when(commitment.get("window_end"))
    call_start = _when((payload.get("call") or {}).get("start_time"))
    if start is None or end is None or call_start is None or not start < end:
        return "unreadable commitment window"
    if start < call_start:
        return "a commitment window before the call"
    if commitment.get("kind") == "visit":
        closes = end.hour + end.minute / 60 + 24 * (end.date() > start.date())
        if start.weekday() >= 5 or start.hour < 8 or closes > 18:
            return "a visit outside business hours in the caller's time zone"
    return None


def conversation_consistency(
    conversations: Sequence[Any], facts: dict[str, Any]
) -> tuple[bool, str]:
    """Each transcript fits its call: timing, first response, overlaps = interruptions, and
    each promised window is sane (a visit on a weekday 8:00-18:00 local, after the call)."""
    problems: list[dict[str, str]] = []
    with_words = 0
    for doc in conversations:
        payload, custom = _payload(doc), _custom(doc)
        turns = custom.get("transcript")
        problem = None
        if turns is not None:
            with_words += 1
            problem = _turn_problems(payload, turns if isinstance(turns, list) else [])
        commitment = custom.get("commitment")
        problem = problem or _commitment_problem(
            payload, commitment if isinstance(commitment, dict) else None
        )
        if problem:
            problems.append({"call_id": str(doc.get("call_id")), "problem": problem})
    facts["conversation_problems"] = problems[:_LISTED]
    facts["conversations_with_transcript"] = with_words
    detail = (
        f"{len(problems)} of {len(conversations)} records disagree with their own metadata "
        f"({with_words} with transcripts)"
    )
    return bool(conversations) and not problems, detail


def language_by_region(
    conversations: Sequence[Any],
    spanish_share: dict[str, float],
    languages: Sequence[str],
    facts: dict[str, Any],
) -> tuple[bool, str]:
    """Spanish share per state matches the profile's regions (within 5 standard errors + 3
    points: a journey's calls share one caller, so counts vary more than independent draws)."""
    by_state: dict[str, Counter[bool]] = {}
    unknown = 0
    for doc in conversations:
        custom = _custom(doc)
        lang = custom.get("language")
        state = (custom.get("region") or {}).get("state")
        if lang not in languages or state not in spanish_share:
            unknown += 1
            continue
        by_state.setdefault(state, Counter())[lang == SPANISH] += 1
    off: list[str] = []
    table: dict[str, Any] = {}
    for state, counts in sorted(by_state.items()):
        n = counts[True] + counts[False]
        if SPANISH not in languages:
            expected = 0.0
        elif languages[0] == SPANISH:
            expected = 1.0
        else:
            expected = spanish_share[state]
        observed = counts[True] / n
        table[state] = {"calls": n, "spanish": round(observed, 3), "expected": expected}
        tolerance = 5 * math.sqrt(expected * (1 - expected) / n) + 0.03
        if n >= _MIN_PER_STATE and abs(observed - expected) > tolerance:
            off.append(state)
    facts["spanish_share_by_state"] = table
    detail = (
        f"{len(by_state)} states; Spanish share off the profile in {len(off)}"
        + (f" ({', '.join(off)})" if off else "")
        + f"; {unknown} records with a language or state the profile does not know"
    )
    return bool(by_state) and not off and not unknown, detail


def journey_integrity(
    conversations: Sequence[Any], window_end: datetime | None, facts: dict[str, Any]
) -> tuple[bool, str]:
    """Every previous_call_id names an earlier call of the same customer and journey, one
    step before; every callback whose window closes in the dataset has a call inside it."""
    by_id: dict[str, dict[str, Any]] = {}
    for doc in conversations:
        if isinstance(doc, dict):
            by_id[str(doc.get("call_id"))] = doc
    followed: dict[str, datetime | None] = {}
    broken: list[str] = []
    repeat = 0
    for call_id, doc in by_id.items():
        journey = _custom(doc).get("journey")
        if not isinstance(journey, dict):
            broken.append(call_id)
            continue
        prev_id = journey.get("previous_call_id")
        if prev_id is None:
            if journey.get("sequence") != 1:
                broken.append(call_id)
            continue
        repeat += 1
        prev = by_id.get(str(prev_id))
        prev_journey = _custom(prev).get("journey") if prev is not None else None
        start = _when(_payload(doc).get("call", {}).get("start_time"))
        if (
            prev is None
            or not isinstance(prev_journey, dict)
            or prev_journey.get("customer_id") != journey.get("customer_id")
            or prev_journey.get("journey_id") != journey.get("journey_id")
            or journey.get("sequence") != prev_journey.get("sequence", 0) + 1
            or start is None
            or not _when(_payload(prev).get("call", {}).get("start_time")) < start  # type: ignore[operator]
        ):
            broken.append(call_id)
            continue
        followed[str(prev_id)] = start
    if window_end is None:  # no manifest: the data end where the last call starts
        starts = [_when(_payload(d).get("call", {}).get("start_time")) for d in by_id.values()]
        window_end = max((t for t in starts if t is not None), default=None)
    unkept = 0
    for call_id, doc in by_id.items():
        commitment = _custom(doc).get("commitment")
        if not isinstance(commitment, dict) or commitment.get("kind") != "callback":
            continue
        begin, end = _when(commitment.get("window_start")), _when(commitment.get("window_end"))
        if begin is None or end is None or (window_end is not None and end >= window_end):
            continue
        at = followed.get(call_id)
        unkept += at is None or not begin <= at <= end
    facts["repeat_call_share"] = round(repeat / len(by_id), 4) if by_id else 0.0
    facts["broken_journey_links"] = broken[:_LISTED]
    facts["callbacks_not_kept"] = unkept
    detail = (
        f"{len(broken)} broken journey links, {unkept} callbacks not followed inside their "
        f"window; {repeat} repeat calls ({facts['repeat_call_share']:.1%})"
    )
    return bool(by_id) and not broken and not unkept, detail


def satisfaction_vs_outcome(
    conversations: Sequence[Any], facts: dict[str, Any]
) -> tuple[bool, str]:
    """CSAT follows the sentiment the call ends with, and successful calls score higher."""
    wrong = 0
    by_status: dict[str, list[int]] = {}
    for doc in conversations:
        payload, custom = _payload(doc), _custom(doc)
        sat = custom.get("satisfaction")
        if sat is None:
            continue
        try:
            score = payload["outcomes"]["perceived"][0]["sentiment"]["score"]
            ok = sat["sentiment_end"] == score and sat["csat"] == csat_of(score)
            status = str(payload["outcomes"]["objective"]["status"])
        except (KeyError, IndexError, TypeError):
            wrong += 1
            continue
        wrong += not ok
        by_status.setdefault(status, []).append(sat["csat"])
    mean = {k: round(sum(v) / len(v), 2) for k, v in sorted(by_status.items())}
    facts["csat_by_status"] = mean
    success, other = (
        by_status.get("success", []),
        [x for k, v in by_status.items() if k != "success" for x in v],
    )
    ordered = len(success) < 20 or len(other) < 20 or mean["success"] > sum(other) / len(other)
    detail = (
        f"{wrong} records whose CSAT disagrees with their sentiment; mean CSAT by status {mean}"
    )
    return bool(by_status) and not wrong and ordered, detail
