"""Scoring: every check earns its points only while it passes, and each one can fail.

Each case below breaks one thing about a clean dataset (recomputing the manifest's counts and
checksum where the data changed, so only the check under test can notice) and asserts that
exactly that check fails and exactly its weight leaves the score.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from voicelens.producer.profile import Profile
from voicelens.report.quality import WEIGHTS, assess, grade

Data = tuple[list[dict[str, Any]], dict[str, Any]]
_TS = "%Y-%m-%dT%H:%M:%S.000Z"


def test_weights_add_up_to_100() -> None:
    assert sum(WEIGHTS.values()) == 100


def test_a_clean_generated_dataset_scores_100(make_dataset: Any, profile: Profile) -> None:
    conversations, manifest = make_dataset()
    result = assess(conversations, manifest, profile)
    assert [c.name for c in result.checks if not c.passed] == []
    assert [c.name for c in result.checks] == list(WEIGHTS)
    assert result.score == 100
    assert grade(result.score) == "A"


def _retime(conv: dict[str, Any], start: datetime) -> None:
    """Move a call to ``start`` keeping every time rule of VCP 0.3 intact."""
    call = conv["vcp_payload"]["call"]
    end = start + timedelta(seconds=call["duration_sec"])
    call["start_time"], call["end_time"] = start.strftime(_TS), end.strftime(_TS)
    audit = conv["vcp_payload"]["audit"]
    audit["received_at"] = (end + timedelta(seconds=1)).strftime(_TS)
    audit["normalized_at"] = (end + timedelta(seconds=2)).strftime(_TS)
    for item in conv["vcp_payload"]["outcomes"]["perceived"]:
        item["at"] = int(end.timestamp())


def _all_at_three_am(data: Data) -> None:
    # Same days, but every call at 03:xx local time (09:xx UTC): a night-shift dataset.
    for conv in data[0]:
        start = datetime.fromisoformat(conv["vcp_payload"]["call"]["start_time"][:10])
        _retime(conv, start.replace(hour=9, minute=int(conv["call_id"][:2], 16) % 60, tzinfo=UTC))
        # Moved calls no longer keep their promises or journey order: drop those, so only the
        # time check is under test.
        custom = conv["vcp_payload"]["custom"]
        custom.pop("commitment", None)
        custom["journey"].update(sequence=1, previous_call_id=None)


def _payload(data: Data, i: int = 7) -> dict[str, Any]:
    payload: dict[str, Any] = data[0][i]["vcp_payload"]
    return payload


def _late_turn(data: Data) -> None:
    payload = _payload(data)
    payload["custom"]["transcript"][-1]["end_sec"] = payload["call"]["duration_sec"] + 30.0


def _all_spanish(data: Data) -> None:
    for conv in data[0]:
        conv["vcp_payload"]["custom"]["language"] = "es-US"


def _dangling_link(data: Data) -> None:
    journey = _payload(data)["custom"]["journey"]
    journey.update(previous_call_id="00000000-0000-4000-8000-000000000000", sequence=2)


def _csat_off(data: Data) -> None:
    rated = next(c for c in data[0] if "satisfaction" in c["vcp_payload"]["custom"])
    sat = rated["vcp_payload"]["custom"]["satisfaction"]
    sat["csat"] = sat["csat"] % 5 + 1


CASES: dict[str, tuple[Callable[[Data], None], bool]] = {
    # name: (edit, whether the data changed so the manifest must be restated)
    "count_accuracy": (lambda d: d[1].update(count=d[1]["count"] + 1), False),
    "checksum": (lambda d: d[1]["checksum"].update(value="0" * 64), False),
    "vcp_validity": (lambda d: _payload(d)["audit"].update(schema_version="0.2"), True),
    "scenario_mix_fit": (
        lambda d: d[1].update(
            target_mix={**dict.fromkeys(d[1]["target_mix"], 0.01), "quote_requested": 0.94}
        ),
        False,
    ),
    "provider_balance": (lambda d: d[1]["parameters"].update(provider="retell"), False),
    "temporal_distribution": (_all_at_three_am, True),
    "ranges_per_scenario": (
        lambda d: _payload(d)["outcomes"]["objective"]["metrics"].update(
            estimated_value_usd=99_999.0
        ),
        True,
    ),
    "hvac_relevance": (
        lambda d: _payload(d)["call"]["purpose_contract"].update(declared_intent="order_pizza"),
        True,
    ),
    "pii_free": (
        lambda d: _payload(d)["custom"].update(note="call me back on (312) 867-5309"),
        True,
    ),
    "conversation_consistency": (_late_turn, True),
    "language_by_region": (_all_spanish, True),
    "journey_integrity": (_dangling_link, True),
    "satisfaction_vs_outcome": (_csat_off, True),
}


def test_every_check_has_a_failing_case() -> None:
    assert set(CASES) == set(WEIGHTS)


@pytest.mark.parametrize("name", list(CASES))
def test_a_failing_check_loses_exactly_its_points(
    name: str, make_dataset: Any, restate_manifest: Any, profile: Profile
) -> None:
    conversations, manifest = make_dataset()
    edit, data_changed = CASES[name]
    edit((conversations, manifest))
    if data_changed:
        manifest = restate_manifest(conversations, manifest)
    result = assess(conversations, manifest, profile)
    failed = {c.name: c for c in result.checks if not c.passed}
    assert list(failed) == [name], {k: c.detail for k, c in failed.items()}
    assert failed[name].points == 0
    assert result.score == 100 - WEIGHTS[name]


def test_without_a_manifest_count_and_checksum_fail_rather_than_drop_out(
    make_dataset: Any, profile: Profile
) -> None:
    conversations, _ = make_dataset()
    result = assess(conversations, None, profile)
    failed = sorted(c.name for c in result.checks if not c.passed)
    assert failed == ["checksum", "count_accuracy"]
    assert result.score == 100 - WEIGHTS["checksum"] - WEIGHTS["count_accuracy"]
    # The profile stands in for the manifest's target mix and window.
    assert result.facts["scenario_mix"]["p_value"] > 0


def test_a_duplicated_record_fails_count_accuracy(
    make_dataset: Any, restate_manifest: Any, profile: Profile
) -> None:
    conversations, manifest = make_dataset()
    twice = [*conversations, conversations[0]]
    manifest = restate_manifest(twice, manifest)
    check = next(c for c in assess(twice, manifest, profile).checks if c.name == "count_accuracy")
    assert not check.passed
    assert "distinct call ids" in check.detail


def test_a_record_that_is_not_even_an_object_is_survived(
    make_dataset: Any, profile: Profile
) -> None:
    conversations, manifest = make_dataset()
    result = assess([*conversations, ["junk"], {"vcp_payload": None}], manifest, profile)
    assert result.facts["invalid_count"] == 2
    assert not next(c for c in result.checks if c.name == "vcp_validity").passed


def test_pii_findings_never_carry_the_text(make_dataset: Any, profile: Profile) -> None:
    conversations, manifest = make_dataset()
    conversations[3]["vcp_payload"]["custom"]["note"] = "jane.doe@gmail.com"
    facts = assess(conversations, manifest, profile).facts
    assert facts["pii_findings"] == [{"call_id": conversations[3]["call_id"], "kind": "email"}]
    assert "jane.doe" not in repr(facts)


@pytest.mark.parametrize(
    ("score", "letter"),
    [
        (100, "A"),
        (90, "A"),
        (89.9, "B"),
        (80, "B"),
        (79, "C"),
        (70, "C"),
        (69, "D"),
        (60, "D"),
        (59, "F"),
        (0, "F"),
    ],
)
def test_grade(score: float, letter: str) -> None:
    assert grade(score) == letter


def test_the_users_reference_examples_pass_the_per_record_checks(profile: Profile) -> None:
    reference = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
    docs = [json.loads(p.read_text()) for p in sorted(reference.glob("*.json"))]
    checks = {c.name: c for c in assess(docs, None, profile).checks}
    for name in ("vcp_validity", "ranges_per_scenario", "hvac_relevance", "pii_free"):
        assert checks[name].passed, checks[name].detail
    # Eight calls are too few to test a distribution: no free points for that.
    assert not checks["temporal_distribution"].passed
