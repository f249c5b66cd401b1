"""Data-quality checks. Every point of the score is earned by a check that can fail.

The checks and their weights are fixed (they add up to 100), so two reports' scores compare:
a check that cannot be run for lack of input (no manifest to count against, say) fails rather
than silently dropping out of the total.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicelens.producer.generator import dataset_seasons
from voicelens.producer.profile import Profile, data_file
from voicelens.producer.regions import load_regions
from voicelens.producer.rng import seed_key
from voicelens.report.conversation_checks import (
    conversation_consistency,
    journey_integrity,
    language_by_region,
    satisfaction_vs_outcome,
)
from voicelens.report.distribution import (
    WEEKDAYS,
    Fit,
    expected_time_shares,
    goodness_of_fit,
    local_time,
    window_of,
)
from voicelens.report.pii import find_pii
from voicelens.report.vcp_validation import validate
from voicelens.schemas.canonical import canonical_json

__all__ = ["WEIGHTS", "Check", "QualityResult", "assess", "grade"]

#: Points per check; they add up to 100.
WEIGHTS: dict[str, int] = {
    "count_accuracy": 12,
    "checksum": 5,
    "vcp_validity": 15,
    "scenario_mix_fit": 12,
    "provider_balance": 10,
    "temporal_distribution": 10,
    "ranges_per_scenario": 8,
    "hvac_relevance": 3,
    "pii_free": 10,
    "conversation_consistency": 5,
    "language_by_region": 3,
    "journey_integrity": 4,
    "satisfaction_vs_outcome": 3,
}
_LISTED = 50  # records named per finding in the facts; the counts cover all of them


@dataclass(frozen=True)
class Check:
    """One quality check: it earns its weight when it passes, nothing when it fails."""

    name: str
    passed: bool
    detail: str

    @property
    def weight(self) -> int:
        """Points at stake."""
        return WEIGHTS[self.name]

    @property
    def points(self) -> int:
        """Points earned."""
        return self.weight if self.passed else 0


@dataclass
class QualityResult:
    """All checks and the facts behind them."""

    checks: list[Check]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> int:
        """0..100: the points earned."""
        total = sum(c.weight for c in self.checks)
        return round(100 * sum(c.points for c in self.checks) / total) if total else 0


def grade(score: float) -> str:
    """Letter grade of a score: A from 90, B from 80, C from 70, D from 60, else F."""
    for letter, floor in (("A", 90), ("B", 80), ("C", 70), ("D", 60)):
        if score >= floor:
            return letter
    return "F"


def _get(doc: Any, *path: str) -> Any:
    """``doc[path[0]][path[1]]...`` or None when any level is missing or not an object."""
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


@dataclass(frozen=True)
class _Facts:
    """What the checks need from one record, read defensively (records may be invalid)."""

    call_id: str
    scenario: str
    provider: str
    start: datetime | None
    duration: Any
    value: Any
    intent: Any
    capabilities: Any
    evidence: frozenset[str]

    @classmethod
    def of(cls, doc: Any) -> _Facts:
        payload = _get(doc, "vcp_payload")
        call = _get(payload, "call")
        start_raw = _get(call, "start_time")
        try:
            start = datetime.fromisoformat(start_raw.replace("Z", "+00:00"))
        except (AttributeError, ValueError):
            start = None
        if start is not None and start.tzinfo is None:
            # VCP times are UTC; a zone-less one (invalid anyway) is read as UTC too rather
            # than in whatever zone the machine running the report happens to be in.
            start = start.replace(tzinfo=UTC)
        scored = _get(payload, "outcomes", "objective", "scored_criteria")
        evidence = frozenset(
            str(_get(s, "evidence_ref")) for s in (scored if isinstance(scored, list) else [])
        )
        value = _get(payload, "outcomes", "objective", "metrics", "estimated_value_usd")
        return cls(
            call_id=str(_get(doc, "call_id")),
            scenario=str(_get(payload, "custom", "outcome_hint")),
            provider=str(_get(call, "provider")),
            start=start,
            duration=_get(call, "duration_sec"),
            value=0.0 if value is None else value,
            intent=_get(call, "purpose_contract", "declared_intent"),
            capabilities=_get(call, "capabilities_invoked"),
            evidence=evidence,
        )


def _count_accuracy(records: list[_Facts], manifest: dict[str, Any] | None) -> Check:
    n, unique = len(records), len({r.call_id for r in records})
    if manifest is None:
        return Check(
            "count_accuracy", False, f"{n} conversations, but no manifest to count against"
        )
    expected = manifest.get("count")
    problems = []
    if n != expected:
        problems.append(f"manifest says {expected}")
    if unique != n:
        problems.append(f"only {unique} distinct call ids")
    observed = {
        "scenario": Counter(r.scenario for r in records),
        "provider": Counter(r.provider for r in records),
        "day": Counter(r.start.date().isoformat() for r in records if r.start is not None),
    }
    for kind, counts in (manifest.get("counts") or {}).items():
        if kind in observed and dict(observed[kind]) != {k: v for k, v in counts.items() if v}:
            problems.append(f"{kind} counts differ from the manifest")
    detail = f"{n} conversations, {unique} distinct call ids"
    if problems:
        return Check("count_accuracy", False, f"{detail}: {'; '.join(problems)}")
    return Check("count_accuracy", True, f"{detail}, as the manifest says, per kind too")


def _checksum(conversations: Sequence[Any], manifest: dict[str, Any] | None) -> Check:
    wanted = _get(manifest, "checksum", "value")
    if not isinstance(wanted, str):
        return Check("checksum", False, "no checksum in a manifest to compare with")
    digest = hashlib.sha256()
    for doc in conversations:
        digest.update(canonical_json(doc))
    got = digest.hexdigest()
    if got == wanted:
        return Check("checksum", True, f"sha256 {got[:16]}… equals the manifest's")
    return Check(
        "checksum", False, f"sha256 {got[:16]}… differs from the manifest's {wanted[:16]}…"
    )


def _validity(conversations: Sequence[Any], records: list[_Facts], facts: dict[str, Any]) -> Check:
    # Listed by position as well as call id: broken records may share or lack an id.
    invalid = [
        {"record": i, "call_id": rec.call_id, "problems": problems}
        for i, (doc, rec) in enumerate(zip(conversations, records, strict=True))
        if (problems := validate(doc))
    ]
    facts["invalid_count"] = len(invalid)
    facts["invalid_records"] = invalid[:_LISTED]
    n = len(records)
    return Check("vcp_validity", bool(n) and not invalid, f"{len(invalid)} of {n} records invalid")


def _fit_facts(observed: Counter[str], expected: dict[str, float], fit: Fit) -> dict[str, Any]:
    n, total = sum(observed.values()), sum(expected.values()) or 1.0
    return {
        "p_value": fit.p_value,
        "categories": {
            k: {"observed": observed.get(k, 0), "expected": n * expected.get(k, 0.0) / total}
            for k in sorted(set(expected) | set(observed))
        },
    }


def _scenario_mix(
    records: list[_Facts], manifest: dict[str, Any] | None, profile: Profile, facts: dict[str, Any]
) -> Check:
    target = _get(manifest, "target_mix") or profile.target_mix()
    observed = Counter(r.scenario for r in records)
    fit = goodness_of_fit(observed, target)
    facts["scenario_counts"] = dict(sorted(observed.items()))
    facts["scenario_mix"] = _fit_facts(observed, target, fit)
    return Check("scenario_mix_fit", fit.passed, f"against the target mix: {fit.detail}")


def _provider_balance(
    records: list[_Facts], manifest: dict[str, Any] | None, profile: Profile, facts: dict[str, Any]
) -> Check:
    chosen = _get(manifest, "parameters", "provider") or "all"
    expected = (
        {name: spec.share for name, spec in profile.providers.items()}
        if chosen == "all"
        else {chosen: 1.0}
    )
    observed = Counter(r.provider for r in records)
    fit = goodness_of_fit(observed, expected)
    facts["provider_counts"] = dict(sorted(observed.items()))
    facts["provider_balance"] = _fit_facts(observed, expected, fit)
    return Check("provider_balance", fit.passed, f"provider {chosen}: {fit.detail}")


def _temporal(
    records: list[_Facts], manifest: dict[str, Any] | None, profile: Profile, facts: dict[str, Any]
) -> Check:
    starts = [r.start for r in records if r.start is not None]
    if not starts:
        return Check("temporal_distribution", False, "no readable start times")
    window = _get(manifest, "window")
    if isinstance(window, dict) and "start" in window and "end" in window:
        first = datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
        last = datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
    else:
        first, last = window_of(starts)
    seasons = _seasons(manifest, profile, first, last)
    shares = expected_time_shares(profile, first, last, seasons)
    local = [local_time(t, profile.utc_offset_hours) for t in starts]
    observed = {
        "hour": Counter(str(t.hour) for t in local),
        "weekday": Counter(WEEKDAYS[t.weekday()] for t in local),
        "day": Counter(t.date().isoformat() for t in local),
    }
    expected = {"hour": shares.hour, "weekday": shares.weekday, "day": shares.day}
    fits = {
        k: goodness_of_fit(observed[k], expected[k], ordered=True, too_good=True) for k in observed
    }
    n = len(local)
    offset = f"UTC{profile.utc_offset_hours:+d}"
    facts["local_time"] = offset
    for kind in ("hour", "weekday", "day"):
        facts[f"calls_by_{kind}_local"] = {k: observed[kind].get(k, 0) for k in expected[kind]}
        facts[f"expected_calls_by_{kind}_local"] = {k: n * s for k, s in expected[kind].items()}
        facts[f"{kind}_p_value"] = fits[kind].p_value
    failed = [k for k, f in fits.items() if not f.passed]
    detail = "; ".join(f"{k}: {f.detail}" for k, f in fits.items())
    if failed:
        detail = f"does not follow the profile by {', '.join(failed)} ({offset}) — {detail}"
    return Check("temporal_distribution", not failed, detail)


def _seasons(
    manifest: dict[str, Any] | None, profile: Profile, first: datetime, last: datetime
) -> Any:
    """The dataset's day factors (seasons, seeded weather), rebuilt from its manifest's identity."""
    dataset_id = _get(manifest, "dataset_id")
    seed = _get(manifest, "parameters", "seed")
    if not isinstance(dataset_id, str) or not isinstance(seed, int):
        return None
    named = _get(manifest, "parameters", "profile")
    regions = load_regions(data_file(Path(named) if named else None, profile.conversation.regions))
    return dataset_seasons(profile, regions, first, last, seed_key(dataset_id, seed)).hourly_factor


def _ranges(records: list[_Facts], profile: Profile, facts: dict[str, Any]) -> Check:
    seen: dict[str, dict[str, Any]] = {}
    outside = 0
    for r in records:
        spec = profile.scenarios.get(r.scenario)
        row = seen.setdefault(
            r.scenario, {"records": 0, "out_of_range": 0, "duration": [], "value": []}
        )
        row["records"] += 1
        numeric = all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in (r.duration, r.value)
        )
        if numeric:
            row["duration"].append(r.duration)
            row["value"].append(r.value)
        ok = (
            spec is not None
            and numeric
            and spec.duration_sec[0] <= r.duration <= spec.duration_sec[1]
            and spec.value_usd[0] <= r.value <= spec.value_usd[1]
        )
        if not ok:
            outside += 1
            row["out_of_range"] += 1
    table: dict[str, Any] = {}
    for name in sorted(seen):
        row, spec = seen[name], profile.scenarios.get(name)
        table[name] = {
            "records": row["records"],
            "out_of_range": row["out_of_range"],
            "duration_sec": [min(row["duration"]), max(row["duration"])]
            if row["duration"]
            else None,
            "value_usd": [min(row["value"]), max(row["value"])] if row["value"] else None,
            "allowed_duration_sec": list(spec.duration_sec) if spec else None,
            "allowed_value_usd": list(spec.value_usd) if spec else None,
        }
    facts["ranges_by_scenario"] = table
    return Check(
        "ranges_per_scenario",
        bool(records) and outside == 0,
        f"{outside} of {len(records)} records outside their scenario's duration/value ranges",
    )


def _relevance(records: list[_Facts], profile: Profile) -> Check:
    """HVAC relevance: each record is a catalogue scenario with that scenario's intent and tools."""
    irrelevant = 0
    for r in records:
        spec = profile.scenarios.get(r.scenario)
        if (
            spec is None
            or r.intent != spec.intent
            or not isinstance(r.capabilities, list)
            or set(map(str, r.capabilities)) != set(spec.capabilities)
            or r.evidence != {spec.evidence}
        ):
            irrelevant += 1
    return Check(
        "hvac_relevance",
        bool(records) and irrelevant == 0,
        f"{irrelevant} of {len(records)} records are not an HVAC catalogue scenario "
        "(intent, tools and evidence)",
    )


def _pii(conversations: Sequence[Any], records: list[_Facts], facts: dict[str, Any]) -> Check:
    findings = [
        (rec.call_id, kind)
        for doc, rec in zip(conversations, records, strict=True)
        for kind, _text in find_pii(doc)
    ]
    kinds = Counter(kind for _, kind in findings)
    # The matched text itself is the PII: a report names where, never what.
    facts["pii_findings"] = [{"call_id": c, "kind": k} for c, k in findings[:_LISTED]]
    facts["pii_by_kind"] = dict(sorted(kinds.items()))
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    return Check(
        "pii_free",
        not findings,
        f"{len(findings)} PII findings in {len(records)} records"
        + (f" ({by_kind})" if by_kind else ""),
    )


def assess(
    conversations: Sequence[Any], manifest: dict[str, Any] | None, profile: Profile
) -> QualityResult:
    """Run every check over a dataset's conversations, given in dataset (index) order."""
    records = [_Facts.of(doc) for doc in conversations]
    facts: dict[str, Any] = {"records": len(records)}
    checks = [
        _count_accuracy(records, manifest),
        _checksum(conversations, manifest),
        _validity(conversations, records, facts),
        _scenario_mix(records, manifest, profile, facts),
        _provider_balance(records, manifest, profile, facts),
        _temporal(records, manifest, profile, facts),
        _ranges(records, profile, facts),
        _relevance(records, profile),
        _pii(conversations, records, facts),
        *_conversation_checks(conversations, manifest, profile, facts),
    ]
    return QualityResult(checks, facts)


def _conversation_checks(
    conversations: Sequence[Any],
    manifest: dict[str, Any] | None,
    profile: Profile,
    facts: dict[str, Any],
) -> list[Check]:
    named = _get(manifest, "parameters", "profile")
    regions = load_regions(data_file(Path(named) if named else None, profile.conversation.regions))
    shares = {state: spec.spanish_share for state, spec in regions.spec.states.items()}
    languages = _get(manifest, "parameters", "languages") or list(profile.conversation.languages)
    end = _get(manifest, "window", "end")
    window_end = (
        datetime.fromisoformat(end.replace("Z", "+00:00")) if isinstance(end, str) else None
    )
    results = {
        "conversation_consistency": conversation_consistency(conversations, facts),
        "language_by_region": language_by_region(conversations, shares, languages, facts),
        "journey_integrity": journey_integrity(conversations, window_end, facts),
        "satisfaction_vs_outcome": satisfaction_vs_outcome(conversations, facts),
    }
    return [Check(name, passed, detail) for name, (passed, detail) in results.items()]
