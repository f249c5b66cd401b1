"""The generator: valid, consistent, deterministic, index-addressable, and realistic."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.profile import load_profile
from voicelens.report.pii import find_pii
from voicelens.report.vcp_validation import validate

END = "2026-11-01T00:00:00Z"


def dataset(**kw: Any) -> Dataset:
    opts: dict[str, Any] = {"count": 500, "end_time": END, "seed": 42} | kw
    return Dataset.from_options(GeneratorOptions(**opts))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**40),
    mode=st.sampled_from(["gtm", "full"]),
    provider=st.sampled_from(["all", "retell", "vapi", "bland"]),
)
def test_every_record_is_valid_vcp_and_pii_free(seed: int, mode: str, provider: str) -> None:
    ds = dataset(count=60, seed=seed, vcp_mode=mode, provider=provider)
    for conv in ds.conversations():
        assert validate(conv) == [], conv["call_id"]
        assert find_pii(conv) == []
        payload = conv["vcp_payload"]
        assert ("hcr" in payload) is (mode == "full")
        assert ("model_selection" in payload) is (mode == "full")
        if provider != "all":
            assert payload["call"]["provider"] == provider
        start = datetime.fromisoformat(payload["call"]["start_time"].replace("Z", "+00:00"))
        assert ds.window_start <= start < ds.window_end


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    a = [orjson.dumps(c) for c in dataset().conversations()]
    b = [orjson.dumps(c) for c in dataset().conversations()]
    c = [orjson.dumps(c) for c in dataset(seed=43).conversations()]
    assert a == b
    assert len(set(a) & set(c)) == 0


def test_disjoint_index_ranges_equal_one_run() -> None:
    ds = dataset(count=5000)
    whole = list(ds.conversations())
    # Another "process" with its own Dataset object generates ranges in another order.
    other = dataset(count=5000)
    parts = list(other.conversations(3000, 5000)) + list(other.conversations(0, 1234))
    parts += list(other.conversations(1234, 3000))
    assert sorted(orjson.dumps(c) for c in parts) == sorted(orjson.dumps(c) for c in whole)
    assert other.conversation(4321) == whole[4321]
    assert len({c["call_id"] for c in whole}) == 5000


def test_window_is_pinned_by_end_time_and_resolved_once_without_it() -> None:
    ds = dataset(start_days_ago=30)
    assert ds.window_end == datetime(2026, 11, 1, tzinfo=UTC)
    assert ds.window_end - ds.window_start == timedelta(days=30)
    now = datetime(2026, 5, 5, 5, 5, 5, 123456, tzinfo=UTC)
    floating = Dataset.from_options(GeneratorOptions(count=10), now=now)
    assert floating.window_end == now.replace(microsecond=0)
    assert floating.dataset_id != dataset(count=10).dataset_id


def test_scenario_mix_hits_the_target_within_two_points() -> None:
    target = load_profile().target_mix()
    convs = list(dataset(count=4000, start_days_ago=60).conversations())
    counts = Counter(c["vcp_payload"]["custom"]["outcome_hint"] for c in convs)
    for scenario, share in target.items():
        assert counts[scenario] / len(convs) == pytest.approx(share, abs=0.02), scenario
    providers = Counter(c["vcp_payload"]["call"]["provider"] for c in convs)
    assert all(abs(n / len(convs) - 1 / 3) < 0.03 for n in providers.values())


def _local(c: dict[str, Any]) -> datetime:
    t = datetime.fromisoformat(c["vcp_payload"]["call"]["start_time"].replace("Z", "+00:00"))
    return t + timedelta(hours=load_profile().utc_offset_hours)


def test_time_patterns_daily_curve_weekends_and_scenario_timing() -> None:
    convs = list(dataset(count=1800, start_days_ago=60).conversations())
    local = [(_local(c), c["vcp_payload"]["custom"]["outcome_hint"]) for c in convs]
    per_day = Counter(t.date() for t, _ in local)
    weekday = [n for d, n in per_day.items() if d.weekday() < 5]
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    assert statistics.mean(weekday) == pytest.approx(33, abs=4)  # ~30/day, fewer at weekends
    assert statistics.mean(weekend) < 0.75 * statistics.mean(weekday)
    business = [s for t, s in local if t.weekday() < 5 and 8 <= t.hour < 18]
    night = [s for t, s in local if t.hour >= 22 or t.hour < 8]
    assert len(business) > 2 * len(night)

    def share(group: list[str], scenario: str) -> float:
        return group.count(scenario) / len(group)

    assert share(night, "emergency_service") > 1.5 * share(business, "emergency_service")
    assert share(night, "spam_filtered") > 1.5 * share(business, "spam_filtered")
    assert share(business, "booked_service") > 2 * share(night, "booked_service")


def test_fields_follow_the_scenario_catalogue() -> None:
    profile = load_profile()
    for c in dataset(count=2000).conversations():
        p = c["vcp_payload"]
        spec = profile.scenarios[p["custom"]["outcome_hint"]]
        m = p["outcomes"]["objective"]["metrics"]
        assert spec.duration_sec[0] <= p["call"]["duration_sec"] <= spec.duration_sec[1]
        assert spec.value_usd[0] <= m["estimated_value_usd"] <= spec.value_usd[1]
        score = p["outcomes"]["perceived"][0]["sentiment"]["score"]
        assert spec.caller_sentiment[0] - 0.005 <= score <= spec.caller_sentiment[1] + 0.005
        assert list(spec.capabilities) == p["call"]["capabilities_invoked"]
        assert p["outcomes"]["perception_gap"]["gap_class"] == spec.gap_class
