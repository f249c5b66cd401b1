"""Delivery statistics from the ``vcp.deliveries`` events of one dataset."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

__all__ = ["delivery_stats"]


def delivery_stats(events: list[dict[str, Any]], expected_call_ids: set[str]) -> dict[str, Any]:
    """Delivered, dead-lettered (with reasons), attempts, duplicates, latency, throughput."""
    delivered = Counter(e["call_id"] for e in events if e["outcome"] == "delivered")
    dead = [e for e in events if e["outcome"] == "dead_lettered"]
    dead_ids = {e["call_id"] for e in dead}
    latencies = np.array([e["latency_ms"] for e in events], dtype=np.float64)
    times = [e["finished_at_ms"] for e in events] + [e["first_attempt_at_ms"] for e in events]
    span_s = (max(times) - min(times)) / 1000 if times else 0.0
    missing = expected_call_ids - set(delivered) - dead_ids
    both = set(delivered) & dead_ids
    quantiles = (
        {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 90, 95, 99)}
        if len(latencies)
        else {}
    )
    return {
        "events": len(events),
        "delivered": len(delivered),
        "dead_lettered": len(dead_ids - set(delivered)),
        "dead_letter_reasons": dict(Counter(str(e["reason"]) for e in dead).most_common()),
        "duplicates": sum(n - 1 for n in delivered.values() if n > 1),
        "delivered_and_dead": len(both),
        "missing": len(missing),
        "attempts": {str(k): v for k, v in sorted(Counter(e["attempts"] for e in events).items())},
        "latency_ms": quantiles,
        "duration_seconds": span_s,
        "throughput_per_second": len(events) / span_s if span_s > 0 else None,
        "consumers": dict(Counter(e["consumer_id"] for e in events).most_common()),
        "webhooks": sorted({e["webhook"] for e in events}),
    }
