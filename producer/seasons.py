"""Seasons and weather: how busy each day is, per climate zone, and where the calls come from.

Each climate zone's volume follows its monthly ``season_volume`` (cooling peaks in summer,
heating in winter). On top, a dataset has seeded heat waves and cold snaps: a few days in one
climate zone when calls multiply and emergencies rise. They are dataset-level facts, drawn once
from the dataset's key (so every process and the report see the same ones), never per record.

Per local day of the window (the contractor's local days), this gives each metro's weight, so
``metro | day`` is drawn from the day's own mix, and a day factor that scales the timeline's
hourly intensity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from voicelens.producer.profile import SeasonsSpec
from voicelens.producer.regions import Regions

__all__ = ["Seasons", "WeatherEvent"]

_DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WeatherEvent:
    """A heat wave or cold snap: days [first, last] of the window in one climate zone."""

    kind: str
    zone: str
    first_day: int
    days: int
    volume: float


@dataclass(frozen=True)
class Seasons:
    """Per window day: the day's volume factor, the metro mix, and which metros have an event."""

    first_day: int  # local day number (days since 1970-01-01) of the window's first day
    offset_s: int  # the contractor's UTC offset, seconds: days are its local days
    day_factor: npt.NDArray[np.float64]
    metro_cdf: npt.NDArray[np.float64]  # day x metro
    event: npt.NDArray[np.bool_]  # day x metro
    event_share: npt.NDArray[np.float64]  # per day: share of its calls in metros with an event
    events: tuple[WeatherEvent, ...]

    @classmethod
    def build(
        cls,
        spec: SeasonsSpec,
        regions: Regions,
        *,
        start: datetime,
        end: datetime,
        offset_hours: int,
        key: int,
    ) -> Seasons:
        """The window's days from ``start`` to ``end`` in the contractor's local time."""
        offset_s = offset_hours * 3600
        first = (int(start.timestamp()) + offset_s) // _DAY
        last = (int(end.timestamp()) + offset_s) // _DAY
        days = last - first + 1
        months = np.array([(_EPOCH + timedelta(days=first + d)).month for d in range(days)])
        zones = regions.zone_names
        factor = regions.season_volume[:, months - 1]  # zone x day
        boosted = np.zeros_like(factor, dtype=bool)
        rng = np.random.default_rng(key)  # dataset-level draws: fixed by the seed
        events: list[WeatherEvent] = []
        for z, zone in enumerate(zones):
            cooling = regions.cooling_share[z, months - 1]
            for kind, season, rate in (
                ("heat_wave", cooling >= 0.6, spec.heat_waves_per_year),
                ("cold_snap", cooling <= 0.3, spec.cold_snaps_per_year),
            ):
                possible = np.flatnonzero(season)
                count = rng.poisson(rate * len(possible) / 365.0) if len(possible) else 0
                for _ in range(count):
                    begin = int(rng.choice(possible))
                    length = int(rng.integers(spec.event_days[0], spec.event_days[1] + 1))
                    volume = float(rng.uniform(*spec.event_volume))
                    span = slice(begin, min(days, begin + length))
                    factor[z, span] *= volume
                    boosted[z, span] = True
                    events.append(WeatherEvent(kind, zone, begin, length, round(volume, 2)))
        weights = regions.metro_weight[None, :] * factor[regions.zone_of_metro, :].T  # day x metro
        day_factor = weights.sum(axis=1) / regions.metro_weight.sum()
        cdf = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
        cdf[:, -1] = 1.0
        event = boosted[regions.zone_of_metro, :].T
        event_share = (weights * event).sum(axis=1) / weights.sum(axis=1)
        return cls(first, offset_s, day_factor, cdf, event, event_share, tuple(events))

    def day_of(self, seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Window day index of each UTC epoch second."""
        days = (seconds + self.offset_s) // _DAY - self.first_day
        return np.asarray(days.clip(0, len(self.day_factor) - 1), dtype=np.int64)

    def metro(
        self, seconds: npt.NDArray[np.int64], u: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        """A metro for each call, drawn from its day's mix."""
        cdf = self.metro_cdf[self.day_of(seconds)]
        drawn = (u[:, None] > cdf).sum(axis=1).clip(0, cdf.shape[1] - 1)
        return np.asarray(drawn, dtype=np.int64)

    def hourly_factor(self, start_s: int, hours: int) -> npt.NDArray[np.float64]:
        """The day factor of each hour of a timeline starting at ``start_s`` (UTC, on the hour)."""
        seconds = start_s + np.arange(hours, dtype=np.int64) * 3600
        return self.day_factor[self.day_of(seconds)]
