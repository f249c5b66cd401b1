"""When calls happen: the daily curve, weekends, and the scenario mix shaped by time of day.

Call volume over the window is an hourly intensity: the profile's daily curve, scaled down at
weekends and by each day's season and weather (``producer/seasons.py``). Each conversation
draws its time independently from that normalised intensity (inverse CDF of its own uniform),
so arrivals are a random process: daily counts vary as real ones do rather than matching their
expectation (a quota would), and any index is generated alone. Scenario choice depends on the
period of that time (business hours, evening, night, weekend) and on whether a weather event
strikes the caller's metro; because that shaping moves the overall mix,
:func:`calibrate_weights` solves, once per dataset, for base weights whose overall mix equals
the profile's target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from voicelens.producer.profile import PERIODS, Profile

__all__ = ["Timeline", "affinity_matrix", "calibrate_weights", "period_cdfs"]

HOUR = 3600


@dataclass(frozen=True)
class Timeline:
    """The hourly intensity of a window, ready for inverse-CDF lookups."""

    start_s: int
    hours: int
    cdf: npt.NDArray[np.float64]  # cumulative share of volume at the end of each hour
    period_of_hour: npt.NDArray[np.int64]  # index into PERIODS for each hour of the window
    period_share: npt.NDArray[np.float64]  # share of all volume falling in each period

    @classmethod
    def build(
        cls,
        profile: Profile,
        start: datetime,
        end: datetime,
        day_factor: Callable[[int, int], npt.NDArray[np.float64]] | None = None,
    ) -> Timeline:
        """Intensity of every hour in [start, end); ``day_factor(start_s, hours)`` scales it."""
        start_s = int(start.timestamp()) // HOUR * HOUR
        end_s = int(end.timestamp())
        hours = max(1, -(-(end_s - start_s) // HOUR))
        offset = profile.utc_offset_hours * HOUR
        local = start_s + offset + np.arange(hours, dtype=np.int64) * HOUR
        local_hour = (local // HOUR) % 24
        # 1970-01-01 was a Thursday: weekday 0 = Monday.
        weekday = (local // 86_400 + 3) % 7
        weekend = weekday >= 5
        volume = np.asarray(profile.hourly_volume, dtype=np.float64)[local_hour]
        volume = np.where(weekend, volume * profile.weekend_volume, volume)
        if day_factor is not None:
            volume = volume * day_factor(start_s, hours)
        periods = np.array(
            [
                PERIODS.index(profile.period_of(int(h), bool(w)))
                for h, w in zip(local_hour.tolist(), weekend.tolist(), strict=True)
            ],
            dtype=np.int64,
        )
        total = volume.sum()
        share = np.bincount(periods, weights=volume, minlength=len(PERIODS)) / total
        return cls(start_s, hours, np.cumsum(volume) / total, periods, share)

    def locate(self, quantiles: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], ...]:
        """Epoch seconds and period index for each quantile in [0, 1)."""
        hour = np.searchsorted(self.cdf, quantiles, side="right").clip(0, self.hours - 1)
        before = np.where(hour > 0, self.cdf[hour - 1], 0.0)
        width = self.cdf[hour] - before
        within = np.where(width > 0, (quantiles - before) / np.where(width > 0, width, 1), 0.0)
        seconds = self.start_s + hour * HOUR + (within * HOUR).astype(np.int64).clip(0, HOUR - 1)
        return seconds.astype(np.int64), self.period_of_hour[hour]


def affinity_matrix(profile: Profile) -> npt.NDArray[np.float64]:
    """Scenario x shaping column: the periods, then the periods while a weather event strikes."""
    scenarios = profile.enabled_scenarios
    base = np.array(
        [[s.affinity[p] for p in PERIODS] for s in scenarios.values()], dtype=np.float64
    )
    boost = np.array([profile.seasons.event_scenarios.get(n, 1.0) for n in scenarios])
    return np.concatenate([base, base * boost[:, None]], axis=1)


def calibrate_weights(
    profile: Profile,
    period_share: npt.NDArray[np.float64],
    affinity: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Base weights (per enabled scenario) whose overall mix, after shaping, hits the target.

    ``period_share`` is the share of volume in each column of ``affinity`` (default: the four
    periods). Fixed-point iteration: scale each weight by target / achieved until they agree
    to 1e-12.
    """
    scenarios = list(profile.enabled_scenarios.values())
    target = np.array([s.target_share for s in scenarios], dtype=np.float64)
    target /= target.sum()
    if affinity is None:
        affinity = affinity_matrix(profile)[:, : len(PERIODS)]
    weights = target.copy()
    for _ in range(10_000):
        shaped = weights[:, None] * affinity  # scenario x period
        probs = shaped / shaped.sum(axis=0, keepdims=True)
        achieved = probs @ period_share
        if np.max(np.abs(achieved - target)) < 1e-12:
            break
        weights *= target / np.where(achieved > 0, achieved, 1.0)
        weights /= weights.sum()
    return weights


def period_cdfs(
    profile: Profile,
    weights: npt.NDArray[np.float64],
    affinity: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Cumulative scenario probabilities per shaping column: shape (columns, scenarios)."""
    if affinity is None:
        affinity = affinity_matrix(profile)[:, : len(PERIODS)]
    shaped = (weights[:, None] * affinity).T  # period x scenario
    probs = shaped / shaped.sum(axis=1, keepdims=True)
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return cdf
