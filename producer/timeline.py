"""When calls happen: the daily curve, weekends, and the scenario mix shaped by time of day.

Call volume over the window is an hourly intensity (the profile's daily curve, scaled down at
weekends). Conversation k of N takes the time at quantile (k + u) / N of that intensity —
stratified sampling, so indices run in time order and the per-day counts follow the curve
closely. Scenario choice depends on the period of that time (business hours, evening, night,
weekend); because that shaping moves the overall mix, :func:`calibrate_weights` solves, once per
dataset, for base weights whose overall mix equals the profile's target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from voicelens.producer.profile import PERIODS, Profile

__all__ = ["Timeline", "calibrate_weights", "period_cdfs"]

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
    def build(cls, profile: Profile, start: datetime, end: datetime) -> Timeline:
        """Intensity of every hour in [start, end)."""
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


def calibrate_weights(
    profile: Profile, period_share: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Base weights (per enabled scenario) whose overall mix, after shaping, hits the target.

    Fixed-point iteration: scale each weight by target / achieved until they agree to 1e-12.
    """
    scenarios = list(profile.enabled_scenarios.values())
    target = np.array([s.target_share for s in scenarios], dtype=np.float64)
    target /= target.sum()
    affinity = np.array([[s.affinity[p] for p in PERIODS] for s in scenarios], dtype=np.float64)
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


def period_cdfs(profile: Profile, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Cumulative scenario probabilities per period: shape (periods, scenarios)."""
    scenarios = list(profile.enabled_scenarios.values())
    affinity = np.array([[s.affinity[p] for p in PERIODS] for s in scenarios], dtype=np.float64)
    shaped = (weights[:, None] * affinity).T  # period x scenario
    probs = shaped / shaped.sum(axis=1, keepdims=True)
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return cdf
