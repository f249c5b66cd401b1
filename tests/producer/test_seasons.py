"""Regions, seasons and weather: arrivals are a random process shaped by climate and events."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.report.distribution import expected_time_shares, goodness_of_fit

END = "2026-11-01T00:00:00Z"


@pytest.fixture(scope="module")
def year() -> tuple[Dataset, list[dict[str, Any]]]:
    ds = Dataset.from_options(
        GeneratorOptions(count=20_000, start_days_ago=365, end_time=END, seed=3)
    )
    return ds, list(ds.conversations())


def _month(c: dict[str, Any]) -> int:
    return int(c["vcp_payload"]["call"]["start_time"][5:7])


def test_monthly_volume_follows_each_climate_zone_over_a_year(
    year: tuple[Dataset, list[dict[str, Any]]],
) -> None:
    _, calls = year
    by: Counter[tuple[str, int]] = Counter(
        (c["vcp_payload"]["custom"]["region"]["climate_zone"], _month(c)) for c in calls
    )

    def summer(zone: str) -> int:
        return sum(by[(zone, m)] for m in (6, 7, 8))

    def winter(zone: str) -> int:
        return sum(by[(zone, m)] for m in (12, 1, 2))

    assert summer("hot-dry") > 1.6 * winter("hot-dry")
    assert summer("hot-humid") > 1.4 * winter("hot-humid")
    assert winter("cold") > 1.2 * summer("cold")


def test_problems_are_about_cooling_in_summer_and_heating_in_winter(
    year: tuple[Dataset, list[dict[str, Any]]],
) -> None:
    _, calls = year
    heat_words = ("furnace", "heater", "boiler", "heating", "calefacción", "calentón")
    tally: Counter[tuple[str, bool]] = Counter()
    for c in calls:
        custom = c["vcp_payload"]["custom"]
        if custom["outcome_hint"] != "booked_service" or custom["language"] != "en-US":
            continue
        season = {7: "summer", 1: "winter"}.get(_month(c))
        if season is None or custom["region"]["climate_zone"] != "cold":
            continue
        caller = " ".join(t["text"] for t in custom["transcript"] if t["speaker"] == "caller")
        tally[(season, any(w in caller for w in heat_words))] += 1
    winter_heat = tally[("winter", True)] / (tally[("winter", True)] + tally[("winter", False)])
    summer_heat = tally[("summer", True)] / (tally[("summer", True)] + tally[("summer", False)])
    assert winter_heat > 0.8
    assert summer_heat < 0.4


def test_daily_counts_are_overdispersed_where_weather_strikes(
    year: tuple[Dataset, list[dict[str, Any]]],
) -> None:
    ds, calls = year
    seasons = ds._seasons
    assert seasons.events, "a year has seeded heat waves and cold snaps"
    # Counts per (zone, day) inside events, against the zone's days of the same months outside.
    zone_of = {c["call_id"]: c["vcp_payload"]["custom"]["region"]["climate_zone"] for c in calls}
    day_of: Counter[tuple[str, int]] = Counter()
    emergencies: Counter[tuple[str, bool]] = Counter()
    totals: Counter[tuple[str, bool]] = Counter()
    start = ds.window_start
    event_days = {
        (e.zone, d) for e in seasons.events for d in range(e.first_day, e.first_day + e.days)
    }
    for c in calls:
        t = datetime.fromisoformat(c["vcp_payload"]["call"]["start_time"].replace("Z", "+00:00"))
        local = t + timedelta(hours=ds.profile.utc_offset_hours)
        day = (local.date() - (start + timedelta(hours=ds.profile.utc_offset_hours)).date()).days
        zone = zone_of[c["call_id"]]
        day_of[(zone, day)] += 1
        inside = (zone, day) in event_days
        totals[(zone, inside)] += 1
        emergencies[(zone, inside)] += (
            c["vcp_payload"]["custom"]["outcome_hint"] == "emergency_service"
        )
    struck = {e.zone for e in seasons.events}
    rate_in = sum(emergencies[(z, True)] for z in struck) / sum(totals[(z, True)] for z in struck)
    rate_out = sum(emergencies[(z, False)] for z in struck) / sum(
        totals[(z, False)] for z in struck
    )
    assert rate_in > 1.5 * rate_out  # emergencies rise regionally during events
    per_day = [
        day_of[(e.zone, d)]
        for e in seasons.events
        for d in range(e.first_day, e.first_day + e.days)
    ]
    assert statistics.mean(per_day) > 1.3 * statistics.mean(
        n for (z, d), n in day_of.items() if (z, d) not in event_days and z in struck
    )


def test_arrivals_are_random_and_a_quota_is_flagged_as_too_good(
    year: tuple[Dataset, list[dict[str, Any]]],
) -> None:
    ds, calls = year
    shares = expected_time_shares(
        ds.profile, ds.window_start, ds.window_end, ds._seasons.hourly_factor
    )
    local = [
        datetime.fromisoformat(c["vcp_payload"]["call"]["start_time"].replace("Z", "+00:00"))
        + timedelta(hours=ds.profile.utc_offset_hours)
        for c in calls
    ]
    days = Counter(t.date().isoformat() for t in local)
    fit = goodness_of_fit(days, shares.day, ordered=True, too_good=True)
    assert fit.passed, fit.detail  # the generator's own model, including its weather
    # The same number of calls as a quota: each day gets its expected count, rounded.
    n = len(calls)
    quota = Counter({d: round(n * s) for d, s in shares.day.items()})
    flagged = goodness_of_fit(quota, shares.day, ordered=True, too_good=True)
    assert not flagged.passed
    assert "too good" in flagged.detail
    # Without the weather the day counts do not fit: the events are real overdispersion.
    plain = expected_time_shares(ds.profile, ds.window_start, ds.window_end)
    assert not goodness_of_fit(days, plain.day, ordered=True).passed
