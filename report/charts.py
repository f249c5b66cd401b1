"""PNG charts a person would rather look at than read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["write_charts"]


def _bar(
    path: Path, title: str, labels: list[str], values: list[float], rotate: bool = False
) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(labels, values, color="#2b6cb0")
    ax.set_title(title)
    if rotate:
        ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_charts(out: Path, facts: dict[str, Any], delivery: dict[str, Any] | None) -> list[str]:
    """Calls by hour, daily volume, scenario mix, and delivery latency; returns file names."""
    written = []
    hours = facts.get("calls_by_hour_utc", {})
    _bar(out / "calls_by_hour.png", "Calls by hour of day (UTC)", list(hours), list(hours.values()))
    written.append("calls_by_hour.png")
    days = facts.get("calls_by_day", {})
    _bar(
        out / "daily_volume.png", "Daily call volume", list(days), list(days.values()), rotate=True
    )
    written.append("daily_volume.png")
    mix = facts.get("scenario_counts", {})
    _bar(out / "scenario_mix.png", "Scenario mix", list(mix), list(mix.values()), rotate=True)
    written.append("scenario_mix.png")
    if delivery and delivery.get("latency_ms"):
        q = delivery["latency_ms"]
        _bar(out / "delivery_latency.png", "Delivery latency (ms)", list(q), list(q.values()))
        written.append("delivery_latency.png")
    return written
