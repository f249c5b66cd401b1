"""Data-quality checks. Every point of the score is earned by a check that can fail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scipy import stats as scipy_stats

from report.pii import find_pii
from report.vcp_validation import validate

__all__ = ["Check", "QualityResult", "assess", "grade"]

#: Significance level of the goodness-of-fit tests: fail only on strong evidence of a skew.
ALPHA = 0.001


@dataclass
class Check:
    """One quality check."""

    name: str
    weight: int
    passed: bool
    detail: str

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
        """0..100."""
        total = sum(c.weight for c in self.checks)
        return round(100 * sum(c.points for c in self.checks) / total) if total else 0


def grade(score: int) -> str:
    """Letter grade of a score."""
    for letter, floor in (("A", 90), ("B", 80), ("C", 70), ("D", 60)):
        if score >= floor:
            return letter
    return "F"


def _gof(observed: Counter[str], expected_share: dict[str, float]) -> tuple[bool, float, str]:
    """Chi-square goodness of fit of observed counts to expected shares."""
    keys = sorted(set(expected_share) | set(observed))
    n = sum(observed.values())
    unexpected = [k for k in keys if expected_share.get(k, 0) == 0 and observed.get(k, 0) > 0]
    if unexpected or n == 0:
        return False, 0.0, f"unexpected categories {unexpected}" if unexpected else "no data"
    keys = [k for k in keys if expected_share.get(k, 0) > 0]
    total_share = sum(expected_share[k] for k in keys)
    f_obs = [observed.get(k, 0) for k in keys]
    f_exp = [n * expected_share[k] / total_share for k in keys]
    result = scipy_stats.chisquare(f_obs, f_exp)
    p = float(result.pvalue)
    return p >= ALPHA, p, f"chi2={float(result.statistic):.2f}, p={p:.4f}, n={n}"


def assess(
    conversations: list[dict[str, Any]],
    manifest: dict[str, Any] | None,
    profile_ranges: dict[str, dict[str, tuple[float, float]]] | None = None,
) -> QualityResult:
    """Run every check over the dataset's conversations."""
    checks: list[Check] = []
    facts: dict[str, Any] = {}
    n = len(conversations)
    call_ids = [c.get("call_id") for c in conversations]
    unique = len(set(call_ids))
    expected = int(manifest["count"]) if manifest else n
    checks.append(
        Check(
            "count_accuracy",
            20,
            n == expected and unique == n,
            f"{n} conversations ({unique} unique call ids), manifest says {expected}",
        )
    )
    invalid = {}
    for c in conversations:
        problems = validate(c)
        if problems:
            invalid[str(c.get("call_id"))] = problems
    facts["invalid_records"] = dict(list(invalid.items())[:50])
    checks.append(
        Check("vcp_validity", 20, not invalid and n > 0, f"{len(invalid)} of {n} records invalid")
    )

    payloads = [c.get("vcp_payload", {}) for c in conversations if isinstance(c, dict)]
    scenarios = Counter(str(p.get("custom", {}).get("outcome_hint")) for p in payloads)
    providers = Counter(str(p.get("call", {}).get("provider")) for p in payloads)
    facts["scenario_counts"] = dict(scenarios.most_common())
    facts["provider_counts"] = dict(providers.most_common())
    target = (manifest or {}).get("target_mix")
    if target:
        ok, p_value, detail = _gof(scenarios, target)
        checks.append(Check("scenario_mix_fit", 15, ok, detail))
        facts["scenario_mix_p_value"] = p_value
    provider_param = ((manifest or {}).get("parameters") or {}).get("provider", "all")
    if provider_param == "all" and n:
        ok, p_value, detail = _gof(providers, {"retell": 1 / 3, "vapi": 1 / 3, "bland": 1 / 3})
        checks.append(Check("provider_balance", 10, ok, detail))

    hours: Counter[int] = Counter()
    days: Counter[str] = Counter()
    weekday_calls = weekend_calls = 0
    weekday_days: set[str] = set()
    weekend_days: set[str] = set()
    for p in payloads:
        start = p.get("call", {}).get("start_time")
        if not isinstance(start, str):
            continue
        t = datetime.fromisoformat(start.replace("Z", "+00:00"))
        hours[t.hour] += 1
        day = t.date().isoformat()
        days[day] += 1
        if t.weekday() >= 5:
            weekend_calls += 1
            weekend_days.add(day)
        else:
            weekday_calls += 1
            weekday_days.add(day)
    facts["calls_by_hour_utc"] = {str(h): hours.get(h, 0) for h in range(24)}
    facts["calls_by_day"] = dict(sorted(days.items()))
    weekday_rate = weekday_calls / max(len(weekday_days), 1)
    weekend_rate = weekend_calls / max(len(weekend_days), 1)
    peak_share = max(hours.values(), default=0) / max(n, 1)
    temporal_ok = n >= 100 and weekend_rate < weekday_rate and peak_share < 0.25
    checks.append(
        Check(
            "temporal_distribution",
            10,
            temporal_ok,
            f"{weekday_rate:.1f} calls per weekday vs {weekend_rate:.1f} per weekend day; "
            f"busiest hour holds {peak_share:.1%}",
        )
    )
    out_of_range = 0
    if profile_ranges:
        for p in payloads:
            ranges = profile_ranges.get(str(p.get("custom", {}).get("outcome_hint")))
            if ranges is None:
                out_of_range += 1
                continue
            dur = p.get("call", {}).get("duration_sec", -1)
            value = (
                p.get("outcomes", {})
                .get("objective", {})
                .get("metrics", {})
                .get("estimated_value_usd", 0)
            )
            lo, hi = ranges["duration_sec"]
            vlo, vhi = ranges["value_usd"]
            if not (lo <= dur <= hi) or not (vlo <= (value or 0) <= vhi):
                out_of_range += 1
        checks.append(
            Check(
                "ranges_per_scenario",
                10,
                out_of_range == 0,
                f"{out_of_range} records outside their scenario's duration/value ranges",
            )
        )
    hvac_intents = {
        "appointment_booking",
        "speak_to_tech",
        "schedule_callback",
        "request_quote",
        "service_request",
        "unknown",
        "emergency_service",
    }
    irrelevant = sum(
        1
        for p in payloads
        if p.get("call", {}).get("purpose_contract", {}).get("declared_intent") not in hvac_intents
    )
    checks.append(
        Check("hvac_relevance", 5, irrelevant == 0, f"{irrelevant} records with a non-HVAC intent")
    )
    pii = [(str(c.get("call_id")), kind, text) for c in conversations for kind, text in find_pii(c)]
    facts["pii_findings"] = [
        {"call_id": c, "kind": k, "text": "<redacted>"} for c, k, _ in pii[:50]
    ]
    checks.append(Check("pii_free", 10, not pii, f"{len(pii)} PII findings"))
    return QualityResult(checks, facts)
