"""Delivery statistics of one dataset from its ``vcp.deliveries`` events and dead letters.

Definitions (they are what the summary's numbers mean):

- *delivered*: distinct call ids with at least one delivered (2xx) event.
- *dead_lettered*: distinct call ids that were dead-lettered and never delivered afterwards
  (a dead letter that was replayed and then delivered counts as delivered).
- *duplicates*: extra 2xx deliveries of a call id to the same destination (consumer group):
  a call delivered three times to one group is two duplicates. A second group is a second
  destination, so its deliveries are not duplicates of the first's.
- *missing*: call ids of the dataset with no finished event at all (not yet delivered).

A delivery event that was itself written twice (same ``event_id``) is counted once. Events of
records that could not be decoded carry no call id; they are reported apart, as
``undecodable``, because they belong to no dataset.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from voicelens.redaction import redact_url
from voicelens.schemas.dead_letters import DeadLetterReason
from voicelens.schemas.delivery_event import DeliveryOutcome

__all__ = ["PERCENTILES", "delivery_stats", "reason_label", "scrub"]

PERCENTILES = (50, 90, 95, 99)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def scrub(text: str) -> str:
    """``text`` with every URL cut down to ``scheme://host/…``: nothing secret reaches a report."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def reason_label(reason: object, status: object) -> str:
    """How a report names a dead-letter reason: ``rejected (HTTP 422)``, ``timed_out``.

    The reason is a ``DeadLetterReason`` value; anything else (a record from another writer) is
    scrubbed of URLs, so nothing secret reaches a report.
    """
    name = scrub(str(reason)) if DeadLetterReason.parse(str(reason)) is None else str(reason)
    return name if status in (None, "") else f"{name} (HTTP {status})"


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    data = np.asarray(values, dtype=np.float64)
    out = {f"p{q}": float(np.percentile(data, q)) for q in PERCENTILES}
    out["max"] = float(data.max())
    return out


def _dedupe(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    unique = []
    for e in events:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            unique.append(e)
    return unique


def _dlq_summary(dlq: list[dict[str, Any]] | None, dead_events: int) -> dict[str, Any] | None:
    if dlq is None:
        return None
    return {
        "records": len(dlq),
        "undecodable": sum(1 for d in dlq if d.get("call_id") is None),
        "reasons": dict(
            Counter(reason_label(d.get("reason"), d.get("last_status")) for d in dlq).most_common()
        ),
        # A crash between writing the dead letter and its event can leave one without the
        # other; the counts agreeing is what a clean run shows.
        "matches_delivery_events": len(dlq) == dead_events,
    }


def delivery_stats(
    events: Iterable[dict[str, Any]],
    expected_call_ids: set[str],
    dlq: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Delivered, dead-lettered (with reasons), attempts, duplicates, latency, throughput.

    ``events`` are the dataset's decoded delivery events (plus undecodable ones, call id None);
    ``dlq`` the dataset's dead-letter records as ``{call_id, reason, ...}``, when read.
    """
    everything = _dedupe(events)
    undecodable = [e for e in everything if e["call_id"] is None]
    ours = [e for e in everything if e["call_id"] is not None]
    delivered_events = [e for e in ours if e["outcome"] == DeliveryOutcome.DELIVERED]
    dead_events = [e for e in ours if e["outcome"] == DeliveryOutcome.DEAD_LETTERED]
    delivered_ids = {e["call_id"] for e in delivered_events}
    dead_ids = {e["call_id"] for e in dead_events}
    per_destination = Counter((e["group"], e["call_id"]) for e in delivered_events)
    seen_ids = delivered_ids | dead_ids

    groups: dict[str, dict[str, Any]] = {}
    for e in ours:
        g = groups.setdefault(e["group"], {"events": 0, "delivered": set(), "dead": set()})
        g["events"] += 1
        g["delivered" if e["outcome"] == DeliveryOutcome.DELIVERED else "dead"].add(e["call_id"])
    by_group = {
        name: {
            "events": g["events"],
            "delivered": len(g["delivered"]),
            "dead_lettered": len(g["dead"] - g["delivered"]),
            "duplicates": sum(n - 1 for (grp, _), n in per_destination.items() if grp == name),
        }
        for name, g in sorted(groups.items())
    }

    starts = [e["first_attempt_at_ms"] for e in ours]
    ends = [e["finished_at_ms"] for e in ours]
    span_s = (max(ends) - min(starts)) / 1000 if ours else 0.0
    n = len(expected_call_ids)
    return {
        "conversations": n,
        "events": len(ours),
        "delivered": len(delivered_ids),
        "dead_lettered": len(dead_ids - delivered_ids),
        "duplicates": sum(k - 1 for k in per_destination.values()),
        "missing": len(expected_call_ids - seen_ids),
        "unexpected_call_ids": len(seen_ids - expected_call_ids),
        "recovered_after_dead_letter": len(dead_ids & delivered_ids),
        "success_rate": len(delivered_ids & expected_call_ids) / n if n else None,
        "dead_letter_events": len(dead_events),
        "dead_letter_reasons": dict(
            Counter(reason_label(e["reason"], e["http_status"]) for e in dead_events).most_common()
        ),
        "http_status": {
            str(k): v for k, v in sorted(Counter(e["http_status"] for e in ours).items(), key=str)
        },
        "attempts": {str(k): v for k, v in sorted(Counter(e["attempts"] for e in ours).items())},
        "retries": sum(max(e["attempts"] - 1, 0) for e in ours),
        "latency_ms": _percentiles([e["latency_ms"] for e in delivered_events]),
        "dead_letter_latency_ms": _percentiles([e["latency_ms"] for e in dead_events]),
        "duration_seconds": span_s,
        "throughput_per_second": len(delivered_events) / span_s if span_s > 0 else None,
        "by_group": by_group,
        "consumers": dict(Counter(e["consumer_id"] for e in ours).most_common()),
        "webhooks": sorted({scrub(e["webhook"]) for e in ours}),
        "undecodable": {
            "events": len(undecodable),
            "reasons": dict(
                Counter(
                    reason_label(e["reason"], e["http_status"]) for e in undecodable
                ).most_common()
            ),
        },
        "dead_letter_topic": _dlq_summary(dlq, len(dead_events) + len(undecodable)),
    }
