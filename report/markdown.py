"""``quality.md``: the human-readable report — score, every check, the facts behind them."""

from __future__ import annotations

from typing import Any

from voicelens.report.quality import QualityResult

__all__ = ["render"]


def _ms(q: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:,.0f} ms" for k, v in q.items()) or "none"


def _counts(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in d.items()) or "none"


def _quality(result: QualityResult) -> list[str]:
    facts = result.facts
    lines = [
        "| check | result | points | detail |",
        "|---|---|---|---|",
        *(
            f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.points}/{c.weight} "
            f"| {c.detail} |"
            for c in result.checks
        ),
        "",
        "## Scenario mix",
        "",
        "| scenario | observed | expected |",
        "|---|---|---|",
        *(
            f"| {k} | {v['observed']} | {v['expected']:.1f} |"
            for k, v in facts.get("scenario_mix", {}).get("categories", {}).items()
        ),
        "",
        "## Providers",
        "",
        "| provider | observed | expected |",
        "|---|---|---|",
        *(
            f"| {k} | {v['observed']} | {v['expected']:.1f} |"
            for k, v in facts.get("provider_balance", {}).get("categories", {}).items()
        ),
        "",
        f"## Time of day, weekday, day (local time, {facts.get('local_time', 'UTC')})",
        "",
        f"- calls by weekday: {_counts(facts.get('calls_by_weekday_local', {}))}",
        f"- fit p-values: hour of day {facts.get('hour_p_value', 0):.4f}, weekday "
        f"{facts.get('weekday_p_value', 0):.4f}, per day {facts.get('day_p_value', 0):.4f}",
        "",
        "## Duration and value per scenario",
        "",
        "| scenario | records | duration s (allowed) | value USD (allowed) | outside |",
        "|---|---|---|---|---|",
        *(
            f"| {k} | {v['records']} | {v['duration_sec']} ({v['allowed_duration_sec']}) "
            f"| {v['value_usd']} ({v['allowed_value_usd']}) | {v['out_of_range']} |"
            for k, v in facts.get("ranges_by_scenario", {}).items()
        ),
    ]
    invalid = facts.get("invalid_records", [])
    if invalid:
        lines += ["", f"## Invalid records ({facts.get('invalid_count', 0)}, first listed)", ""]
        lines += [
            f"- record {r['record']} (`{r['call_id']}`): {'; '.join(r['problems'])}"
            for r in invalid[:20]
        ]
    if facts.get("pii_findings"):
        lines += ["", "## PII findings (where, never what)", ""]
        lines += [f"- `{f['call_id']}`: {f['kind']}" for f in facts["pii_findings"][:20]]
    return lines


def _delivery(d: dict[str, Any]) -> list[str]:
    rate = d.get("success_rate")
    throughput = d.get("throughput_per_second")
    lines = [
        "",
        "## Delivery",
        "",
        f"- delivered: {d['delivered']} of {d['conversations']}"
        + (f" ({rate:.1%})" if rate is not None else ""),
        f"- dead-lettered: {d['dead_lettered']} (reasons: {_counts(d['dead_letter_reasons'])})",
        f"- recovered after a dead letter: {d['recovered_after_dead_letter']}",
        f"- duplicates detected (extra 2xx deliveries to one group): {d['duplicates']}",
        f"- missing (no finished delivery yet): {d['missing']}",
        f"- attempts per record: {_counts(d['attempts'])}; retries: {d['retries']}",
        f"- HTTP status of the final attempt: {_counts(d['http_status'])}",
        f"- latency to 2xx: {_ms(d['latency_ms'])}",
        f"- duration: {d['duration_seconds']:.1f} s"
        + (f", throughput {throughput:,.1f} deliveries/s" if throughput else ""),
        f"- consumers: {_counts(d['consumers'])}; webhooks: {', '.join(d['webhooks']) or 'none'}",
    ]
    if d["undecodable"]["events"]:
        lines.append(
            f"- undecodable records on the topic: {d['undecodable']['events']} "
            f"({_counts(d['undecodable']['reasons'])})"
        )
    dlq = d.get("dead_letter_topic")
    if dlq is not None:
        agree = "matches" if dlq["matches_delivery_events"] else "does NOT match"
        lines.append(
            f"- dead-letter topic: {dlq['records']} records ({_counts(dlq['reasons'])}); "
            f"{agree} the dead-letter delivery events"
        )
    if len(d["by_group"]) > 1:
        lines += ["", "| group | delivered | dead-lettered | duplicates |", "|---|---|---|---|"]
        lines += [
            f"| {g} | {v['delivered']} | {v['dead_lettered']} | {v['duplicates']} |"
            for g, v in d["by_group"].items()
        ]
    return lines


def render(
    summary: dict[str, Any],
    result: QualityResult,
    delivery: dict[str, Any] | None,
    charts: list[str],
    skipped: dict[str, str],
) -> str:
    """The whole quality.md document."""
    lines = [
        f"# Quality report — dataset {summary['dataset_id'] or '(files without a manifest)'}",
        "",
        f"**Score: {summary['quality_score']}/100 (grade {summary['grade']})** over "
        f"{summary['conversations']} conversations — every point is earned by a check that can "
        "fail; the checks' weights add up to 100.",
        "",
        *_quality(result),
    ]
    if delivery is not None:
        lines += _delivery(delivery)
    if skipped:
        lines += ["", "## Skipped files", ""] + [f"- {k}: {v}" for k, v in skipped.items()]
    lines += ["", "## Charts", ""] + [f"![{c}]({c})" for c in charts]
    return "\n".join(lines) + "\n"
