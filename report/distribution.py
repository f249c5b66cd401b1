"""Goodness-of-fit tests of a dataset's distributions against what its profile says to expect.

Scenario mix, provider balance and the temporal shape (local hour of day, weekday, calendar day)
are each a chi-square test of observed counts against expected shares, never a judgement by eye.
Expected shares of time come from the generator's own intensity model
(:class:`producer.timeline.Timeline`) over the dataset's window, in the profile's local time,
with the dataset's seasons and seeded weather when the manifest identifies it. Arrival counts
are random draws from that intensity, so their fit fails when it is too good as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from voicelens.producer.profile import Profile
from voicelens.producer.timeline import HOUR, Timeline

__all__ = [
    "ALPHA",
    "MIN_EXPECTED",
    "WEEKDAYS",
    "Fit",
    "TimeShares",
    "expected_time_shares",
    "goodness_of_fit",
    "local_time",
    "window_of",
]

#: Significance level: a fit fails only on strong evidence that the data do not follow the target.
ALPHA = 0.001
#: Chi-square needs about this many expected observations per bin; smaller ones are pooled.
MIN_EXPECTED = 5.0
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Fit:
    """The outcome of one goodness-of-fit test."""

    passed: bool
    p_value: float
    detail: str


def _pool(observed: list[int], expected: list[float]) -> tuple[list[int], list[float]]:
    """Merge neighbouring bins (in the given order) until each expects at least MIN_EXPECTED."""
    obs_out: list[int] = []
    exp_out: list[float] = []
    acc_o, acc_e = 0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o += o
        acc_e += e
        if acc_e >= MIN_EXPECTED:
            obs_out.append(acc_o)
            exp_out.append(acc_e)
            acc_o, acc_e = 0, 0.0
    if acc_e > 0 or acc_o > 0:
        if exp_out:
            obs_out[-1] += acc_o
            exp_out[-1] += acc_e
        else:
            obs_out.append(acc_o)
            exp_out.append(acc_e)
    return obs_out, exp_out


def goodness_of_fit(
    observed: Mapping[str, int],
    expected_share: Mapping[str, float],
    *,
    ordered: bool = False,
    too_good: bool = False,
) -> Fit:
    """Chi-square test of ``observed`` counts against ``expected_share`` (any scale).

    A category observed but expected never (share 0 or absent) fails outright. ``ordered`` keeps
    the categories in the order of ``expected_share`` for pooling (hours, days); otherwise they
    are pooled from the rarest up. ``too_good`` also fails a fit closer than chance allows
    (p > 1 - ALPHA): counts that are random draws spread that much; a quota does not.
    """
    n = sum(observed.values())
    unexpected = sorted(k for k, v in observed.items() if v > 0 and expected_share.get(k, 0) <= 0)
    if n == 0:
        return Fit(False, 0.0, "no data")
    if unexpected:
        return Fit(False, 0.0, f"observed but not expected: {', '.join(unexpected)}")
    keys = [k for k, share in expected_share.items() if share > 0]
    if not ordered:
        keys.sort(key=lambda k: expected_share[k])
    total = sum(expected_share[k] for k in keys)
    obs, exp = _pool(
        [observed.get(k, 0) for k in keys], [n * expected_share[k] / total for k in keys]
    )
    if len(keys) == 1:
        return Fit(True, 1.0, f"n={n}, all in the one expected category")
    if len(obs) < 2:
        # Pooled into a single bin the test has no power: passing would be a free point.
        return Fit(False, 0.0, f"n={n} is too few to test {len(keys)} categories")
    # Imported here: scipy.stats adds tens of MB of RSS, which every other command (and the
    # generator's memory budget in bench/README.md) should not pay because the CLI knows this.
    from scipy import stats as scipy_stats

    result = scipy_stats.chisquare(obs, exp)
    p = float(result.pvalue)
    detail = f"chi2={float(result.statistic):.2f}, df={len(obs) - 1}, p={p:.4f}, n={n}"
    if too_good and p > 1 - ALPHA:
        return Fit(False, p, f"{detail}: too good a fit (under-dispersed, as a quota would be)")
    return Fit(p >= ALPHA, p, detail)


@dataclass(frozen=True)
class TimeShares:
    """Expected shares of calls by local hour of day, local weekday and local date."""

    hour: dict[str, float]
    weekday: dict[str, float]
    day: dict[str, float]


def local_time(moment: datetime, offset_hours: int) -> datetime:
    """An aware moment as wall-clock time at ``offset_hours``.

    The result is a UTC datetime moved by the offset, so ``.hour``, ``.weekday()`` and
    ``.date()`` read the local values the profile's time patterns are written in.
    """
    return moment.astimezone(UTC) + timedelta(hours=offset_hours)


def expected_time_shares(
    profile: Profile,
    start: datetime,
    end: datetime,
    day_factor: Callable[[int, int], npt.NDArray[np.float64]] | None = None,
) -> TimeShares:
    """Shares of the generator's call intensity over [start, end), bucketed in local time.

    ``day_factor`` is the dataset's seasons and weather (``Seasons.hourly_factor``), when known.
    """
    timeline = Timeline.build(profile, start, end, day_factor)
    volume = np.diff(np.concatenate(([0.0], timeline.cdf)))
    hour: dict[str, float] = {str(h): 0.0 for h in range(24)}
    weekday: dict[str, float] = dict.fromkeys(WEEKDAYS, 0.0)
    day: dict[str, float] = {}
    offset = profile.utc_offset_hours * HOUR
    for i, share in enumerate(volume.tolist()):
        local = datetime.fromtimestamp(timeline.start_s + offset + i * HOUR, UTC)
        hour[str(local.hour)] += share
        weekday[WEEKDAYS[local.weekday()]] += share
        key = local.date().isoformat()
        day[key] = day.get(key, 0.0) + share
    return TimeShares(hour, weekday, day)


def window_of(starts: Sequence[datetime]) -> tuple[datetime, datetime]:
    """A window covering the given (UTC) call starts, whole hours: for data without a manifest."""
    first = min(starts).replace(minute=0, second=0, microsecond=0)
    last = max(starts).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return first, last
