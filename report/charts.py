"""PNG charts where a person would rather look than read.

Calls by hour of day and daily volume are drawn against what the profile expects (a line over
the bars), the scenario mix against its target, and delivery latency as a histogram with its
percentiles marked, so a skew shows at a glance.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["write_charts"]

_BAR = "#2b6cb0"
_WEEKEND = "#90cdf4"
_EXPECTED = "#dd6b20"
_DPI = 100


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def _observed_vs_expected(
    ax: Axes,
    observed: dict[str, int],
    expected: dict[str, float],
    colors: list[str] | None = None,
) -> None:
    labels = list(expected) or list(observed)
    xs = range(len(labels))
    ax.bar(xs, [observed.get(k, 0) for k in labels], color=colors or _BAR, label="observed")
    ax.plot(
        xs,
        [expected.get(k, 0.0) for k in labels],
        color=_EXPECTED,
        marker="o",
        markersize=3,
        label="expected by the profile",
    )
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("calls")
    ax.legend(loc="upper left", fontsize=8)


def _hours(out: Path, facts: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(9, 4))
    _observed_vs_expected(
        ax, facts.get("calls_by_hour_local", {}), facts.get("expected_calls_by_hour_local", {})
    )
    ax.set_title(f"Calls by hour of day (local time, {facts.get('local_time', 'UTC')})")
    ax.set_xlabel("hour")
    _save(fig, out / "calls_by_hour.png")
    return "calls_by_hour.png"


def _days(out: Path, facts: dict[str, Any]) -> str:
    observed: dict[str, int] = facts.get("calls_by_day_local", {})
    expected: dict[str, float] = facts.get("expected_calls_by_day_local", {})
    labels = list(expected) or list(observed)
    # Weekends in a lighter blue: fewer calls there is expected, not a gap in the data.
    colors = [_WEEKEND if _is_weekend(day) else _BAR for day in labels]
    fig, ax = plt.subplots(figsize=(max(9.0, len(labels) * 0.18), 4))
    _observed_vs_expected(ax, observed, expected, colors)
    ax.set_title(
        f"Daily call volume (local dates, {facts.get('local_time', 'UTC')}; weekends lighter)"
    )
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    _save(fig, out / "daily_volume.png")
    return "daily_volume.png"


def _is_weekend(day: str) -> bool:
    try:
        return date.fromisoformat(day).weekday() >= 5
    except ValueError:
        return False


def _mix(out: Path, facts: dict[str, Any]) -> str:
    categories: dict[str, dict[str, float]] = facts.get("scenario_mix", {}).get("categories", {})
    names = sorted(categories, key=lambda k: -categories[k]["expected"])
    fig, ax = plt.subplots(figsize=(9, 4))
    xs = range(len(names))
    ax.bar(
        [x - 0.2 for x in xs],
        [categories[k]["observed"] for k in names],
        width=0.4,
        color=_BAR,
        label="observed",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [categories[k]["expected"] for k in names],
        width=0.4,
        color=_EXPECTED,
        label="target",
    )
    ax.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("calls")
    p = facts.get("scenario_mix", {}).get("p_value")
    ax.set_title("Scenario mix vs target" + (f" (chi-square p = {p:.3f})" if p is not None else ""))
    ax.legend(fontsize=8)
    _save(fig, out / "scenario_mix.png")
    return "scenario_mix.png"


def _latency(out: Path, latencies: list[float], percentiles: dict[str, float]) -> str:
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.hist(latencies, bins=min(50, max(5, len(latencies) // 5)), color=_BAR)
    for name in ("p50", "p95", "p99"):
        if name in percentiles:
            ax.axvline(percentiles[name], color=_EXPECTED, linestyle="--", linewidth=1)
            ax.annotate(
                f"{name} {percentiles[name]:.0f} ms",
                (percentiles[name], ax.get_ylim()[1] * 0.9),
                rotation=90,
                fontsize=8,
                va="top",
            )
    ax.set_title(f"Delivery latency, first attempt to 2xx ({len(latencies)} deliveries)")
    ax.set_xlabel("ms")
    ax.set_ylabel("deliveries")
    _save(fig, out / "delivery_latency.png")
    return "delivery_latency.png"


def write_charts(
    out: Path,
    facts: dict[str, Any],
    latencies: list[float] | None = None,
    percentiles: dict[str, float] | None = None,
) -> list[str]:
    """Calls by hour, daily volume, scenario mix and (when delivered) latency; file names."""
    written = [_hours(out, facts), _days(out, facts), _mix(out, facts)]
    if latencies:
        written.append(_latency(out, latencies, percentiles or {}))
    return written
