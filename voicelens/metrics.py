"""Every Prometheus metric VoiceLens exports, defined once.

Conventions: ``voicelens_`` prefix, base units (seconds, bytes), ``_total`` counters, histograms
for latency. Labels are bounded: scenario, provider, topic, partition, result, status class,
reason — never call ids, URLs or anything carrying a secret.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

__all__ = [
    "BUILD_INFO",
    "COMMITS",
    "CONSUMER_LAG",
    "DEAD_LETTERED",
    "DELIVERED",
    "DELIVERY_ATTEMPTS",
    "DELIVERY_LATENCY",
    "GENERATED",
    "IN_FLIGHT",
    "PARTITIONS_ASSIGNED",
    "PARTITION_RATE_BUDGET",
    "PRODUCED_BYTES",
    "PRODUCED_RECORDS",
    "RATE_LIMIT_WAIT",
    "REBALANCES",
    "RETRIES",
    "WEBHOOK_REQUEST_DURATION",
    "status_class",
]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

BUILD_INFO = Info("voicelens_build", "VoiceLens version and role of this process")

GENERATED = Counter(
    "voicelens_generated_conversations_total",
    "Conversations generated",
    ["scenario", "provider"],
)
PRODUCED_RECORDS = Counter(
    "voicelens_produced_records_total", "Records acknowledged by Kafka", ["topic"]
)
PRODUCED_BYTES = Counter(
    "voicelens_produced_bytes_total", "Record value bytes acknowledged by Kafka", ["topic"]
)
DELIVERY_ATTEMPTS = Counter(
    "voicelens_delivery_attempts_total",
    "Webhook POST attempts by result (success, retriable, permanent) and status class "
    "(2xx, 3xx, 4xx, 5xx, timeout, connection)",
    ["result", "status_class"],
)
DELIVERED = Counter(
    "voicelens_delivered_total", "Records delivered with a 2xx", ["topic", "partition"]
)
DEAD_LETTERED = Counter(
    "voicelens_dead_lettered_total", "Records written to the dead-letter topic", ["reason"]
)
RETRIES = Counter("voicelens_delivery_retries_total", "Webhook POSTs retried")
IN_FLIGHT = Gauge("voicelens_in_flight", "Records taken from Kafka and not yet finished")
RATE_LIMIT_WAIT = Counter(
    "voicelens_rate_limit_wait_seconds_total",
    "Time records waited for a rate-limit token",
    ["partition"],
)
PARTITION_RATE_BUDGET = Gauge(
    "voicelens_partition_rate_budget_rps",
    "Requests per second allowed for a partition (0 = unlimited)",
    ["partition"],
)
CONSUMER_LAG = Gauge(
    "voicelens_consumer_lag",
    "End offset minus committed offset, per assigned partition",
    ["topic", "partition"],
)
PARTITIONS_ASSIGNED = Gauge("voicelens_partitions_assigned", "Partitions this consumer holds")
COMMITS = Counter("voicelens_commits_total", "Offset commits", ["result"])
REBALANCES = Counter(
    "voicelens_rebalances_total", "Rebalance callbacks by kind (assign, revoke, lost)", ["kind"]
)
WEBHOOK_REQUEST_DURATION = Histogram(
    "voicelens_webhook_request_duration_seconds",
    "Duration of one webhook POST",
    buckets=_LATENCY_BUCKETS,
)
DELIVERY_LATENCY = Histogram(
    "voicelens_delivery_latency_seconds",
    "From first attempt to finished (delivered or dead-lettered), retries included",
    buckets=_LATENCY_BUCKETS,
)


def status_class(status: int | None, *, timeout: bool = False) -> str:
    """Bounded label for an HTTP outcome."""
    if timeout:
        return "timeout"
    if status is None:
        return "connection"
    return f"{status // 100}xx"
