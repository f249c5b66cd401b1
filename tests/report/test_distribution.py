"""Goodness of fit: the generator's own output fits its profile; a clearly skewed mix does not."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from voicelens.producer.profile import Profile
from voicelens.report.distribution import ALPHA, expected_time_shares, goodness_of_fit


def _mix(conversations: list[dict[str, Any]]) -> Counter[str]:
    return Counter(c["vcp_payload"]["custom"]["outcome_hint"] for c in conversations)


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_the_default_generators_mix_passes(seed: int, make_dataset: Any, profile: Profile) -> None:
    conversations, _ = make_dataset(300, seed)
    fit = goodness_of_fit(_mix(conversations), profile.target_mix())
    assert fit.passed, fit.detail
    assert fit.p_value >= ALPHA


def test_a_clearly_skewed_mix_fails(profile: Profile) -> None:
    # 300 calls, half of them spam: the profile says 18 %.
    skewed = Counter(
        {
            "spam_filtered": 150,
            "scheduled_callback": 40,
            "booked_service": 35,
            "emergency_service": 30,
            "live_transfer": 25,
            "out_of_service_area": 15,
            "quote_requested": 5,
        }
    )
    fit = goodness_of_fit(skewed, profile.target_mix())
    assert not fit.passed
    assert fit.p_value < ALPHA
    assert "n=300" in fit.detail


def test_a_modest_drift_in_a_small_sample_is_not_called_a_skew(profile: Profile) -> None:
    target = profile.target_mix()
    exact = {k: round(300 * share) for k, share in target.items()}
    exact["spam_filtered"] += 6
    exact["booked_service"] -= 6
    assert goodness_of_fit(Counter(exact), target).passed


def test_a_category_the_target_never_expects_fails_by_name(profile: Profile) -> None:
    fit = goodness_of_fit(Counter({"booked_service": 10, "pizza_order": 1}), profile.target_mix())
    assert not fit.passed
    assert "pizza_order" in fit.detail


def test_no_data_fails() -> None:
    assert not goodness_of_fit(Counter(), {"a": 0.5, "b": 0.5}).passed


def test_small_expected_bins_are_pooled_not_inflated() -> None:
    # Hours at night expect well under one call each in a small sample; an exact match must fit
    # perfectly rather than blow up the statistic.
    expected = {str(h): (0.1 if h < 6 else 1.0) for h in range(24)}
    total = sum(expected.values())
    observed = Counter({k: round(200 * v / total) for k, v in expected.items()})
    fit = goodness_of_fit(observed, expected, ordered=True)
    assert fit.passed
    assert fit.p_value > 0.99


def test_expected_time_shares_follow_the_profile(profile: Profile) -> None:
    # Two whole local weeks: every weekday equally, weekend days at the weekend volume.
    offset = -profile.utc_offset_hours
    start = datetime(2026, 10, 5, offset, tzinfo=UTC)  # a Monday, local midnight
    end = datetime(2026, 10, 19, offset, tzinfo=UTC)
    shares = expected_time_shares(profile, start, end)
    assert sum(shares.hour.values()) == pytest.approx(1.0)
    assert len(shares.day) == 14
    assert shares.weekday["Sat"] / shares.weekday["Mon"] == pytest.approx(profile.weekend_volume)
    busiest = max(shares.hour, key=lambda h: shares.hour[h])
    assert int(busiest) == max(range(24), key=lambda h: profile.hourly_volume[h])


def test_too_few_observations_to_test_is_not_a_pass(profile: Profile) -> None:
    fit = goodness_of_fit(Counter({"booked_service": 2, "spam_filtered": 2}), profile.target_mix())
    assert not fit.passed
    assert "too few" in fit.detail


def test_a_single_expected_category_passes_when_everything_is_in_it() -> None:
    assert goodness_of_fit(Counter({"retell": 40}), {"retell": 1.0}).passed
    assert not goodness_of_fit(Counter({"retell": 40, "vapi": 1}), {"retell": 1.0}).passed
