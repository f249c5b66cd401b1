"""The hidden call story of one record: who calls, from where, in which language, what was
promised, how the caller's mood moves, and the follow-ups: everything the transcript and the
``custom`` fields are derived from, so they agree.

Customer-level facts (metro, language, name, phone, the system's brand) are drawn from the
journey's first call's index (its metro from that call's day, see ``producer/seasons.py``), so
every call of a journey has the same customer. Call-level facts come from the call's own index.
Both are counter-based (``rng.uniforms``), so a record never depends on the order in which
records are generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from voicelens.producer.dialogue import Language
from voicelens.producer.regions import Regions

__all__ = [
    "CUSTOMER_FIELDS",
    "BlockInput",
    "Clock",
    "Commitment",
    "arc_cdf",
    "caller_tone",
    "csat_of",
    "earlier_phrase",
    "sentiment_start",
    "sentiment_starts",
]

#: Customer-level uniforms per journey root: (unused), language, name, surname, phone, area code,
#: brand, age, square feet, town outside the area.
CUSTOMER_FIELDS = 10
_HOUR = 3600
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class BlockInput:
    """What the payload builder already decided for a block of records."""

    index: npt.NDArray[np.int64]
    start_s: list[int]
    scenario: list[int]
    duration: list[int]
    first_response: list[float]
    interruptions: list[int]
    sentiment: list[float]
    call_ids: list[str]


def csat_of(sentiment_end: float) -> int:
    """CSAT 1..5 from the caller's sentiment at the end of the call (0..1)."""
    return min(5, max(1, int(sentiment_end * 5) + 1))


def caller_tone(sentiment_end: float) -> str:
    """How the caller sounds when the call ends: warm, neutral or cold."""
    if sentiment_end >= 0.7:
        return "warm"
    if sentiment_end >= 0.4:
        return "neutral"
    return "cold"


class Clock:
    """Local civil time per metro, from UTC epoch seconds; offsets cached per zone and hour.

    US zones change offset on the hour, so one lookup per (zone, UTC hour) is exact.
    """

    def __init__(self, regions: Regions) -> None:
        zones = sorted({m.time_zone for m in regions.metro})
        self._zone_of_metro = [zones.index(m.time_zone) for m in regions.metro]
        self._tz = [regions.tz[[m.time_zone for m in regions.metro].index(z)] for z in zones]
        self._offsets: dict[int, int] = {}
        self._dates: dict[int, tuple[int, int, int]] = {}
        # Promised windows start on the hour: a dataset has a few thousand distinct ones.
        self._isos: dict[tuple[int, int], str] = {}

    def offset(self, metro: int, ts: int) -> int:
        """UTC offset in seconds of ``metro``'s zone at ``ts``."""
        zone = self._zone_of_metro[metro]
        key = (ts // _HOUR) * 16 + zone
        off = self._offsets.get(key)
        if off is None:
            delta = datetime.fromtimestamp(ts, UTC).astimezone(self._tz[zone]).utcoffset()
            off = int(delta.total_seconds()) if delta is not None else 0
            self._offsets[key] = off
        return off

    def date(self, local_day: int) -> tuple[int, int, int]:
        """(year, month, day) of a local day number (days since 1970-01-01)."""
        ymd = self._dates.get(local_day)
        if ymd is None:
            d = datetime.fromtimestamp(local_day * _DAY, UTC)
            ymd = (d.year, d.month, d.day)
            self._dates[local_day] = ymd
        return ymd

    def iso(self, local_s: int, offset: int) -> str:
        """ISO 8601 local time with its offset: ``2026-07-14T10:00:00-05:00``."""
        text = self._isos.get((local_s, offset))
        if text is None:
            text = self._isos[local_s, offset] = self._iso(local_s, offset)
        return text

    def _iso(self, local_s: int, offset: int) -> str:
        y, m, d = self.date(local_s // _DAY)
        rem = local_s % _DAY
        sign = "-" if offset < 0 else "+"
        oh, om = divmod(abs(offset) // 60, 60)
        return (
            f"{y:04d}-{m:02d}-{d:02d}T{rem // _HOUR:02d}:{rem % _HOUR // 60:02d}:00"
            f"{sign}{oh:02d}:{om:02d}"
        )


@dataclass(frozen=True, slots=True)
class Commitment:
    """A promised window, in the caller's local time (epoch seconds shifted by the offset)."""

    kind: str
    start_local: int
    end_local: int
    offset: int

    def as_dict(self, clock: Clock) -> dict[str, Any]:
        """``custom.commitment``."""
        return {
            "kind": self.kind,
            "window_start": clock.iso(self.start_local, self.offset),
            "window_end": clock.iso(self.end_local, self.offset),
        }

    def spoken(self, lang: Language, call_local: int, clock: Clock) -> str:
        """The window as the agent says it: ``tomorrow between 10 a.m. and noon``."""
        spec = lang.spec
        days = self.start_local // _DAY - call_local // _DAY
        if days == 0:
            day = spec.today
        elif days == 1:
            day = spec.tomorrow
        else:
            _, month, dom = clock.date(self.start_local // _DAY)
            weekday = (self.start_local // _DAY + 3) % 7
            day = spec.on_day.format(
                weekday=spec.weekdays[weekday], month=spec.months[month - 1], day=dom
            )
        start_h = self.start_local % _DAY // _HOUR
        end_h = self.end_local % _DAY // _HOUR
        return spec.window.format(day=day, start=spec.hours[start_h], end=spec.hours[end_h])


def earlier_phrase(lang: Language, days: int) -> str:
    """How a caller refers to their previous call ``days`` local days ago."""
    earlier = lang.spec.earlier
    if days <= 0:
        return earlier[0]
    if days == 1:
        return earlier[1]
    if days <= 3:
        return earlier[2]
    if days <= 10:
        return earlier[3]
    return earlier[4]


def arc_cdf(arcs: dict[str, float]) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]:
    """Arc names and their cumulative shares."""
    names = tuple(arcs)
    cdf = np.cumsum([arcs[a] for a in names]) / sum(arcs.values())
    cdf[-1] = 1.0
    return names, cdf


def sentiment_start(arc: str, end: float, u: float) -> float:
    """Where the caller's mood started, given where it ended and the arc."""
    if arc == "improving":
        start = end - 0.15 - 0.3 * u
    elif arc == "declining":
        start = end + 0.1 + 0.2 * u
    else:
        start = end + 0.1 * (u - 0.5)
    return round(min(0.98, max(0.02, start)), 2)


def sentiment_starts(
    arc: npt.NDArray[np.str_], end: npt.NDArray[np.float64], u: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """:func:`sentiment_start` of a block, unrounded (the same float operations, in numpy)."""
    start = np.where(
        arc == "improving",
        end - 0.15 - 0.3 * u,
        np.where(arc == "declining", end + 0.1 + 0.2 * u, end + 0.1 * (u - 0.5)),
    )
    return np.minimum(0.98, np.maximum(0.02, start))
