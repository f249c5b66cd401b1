"""Every Prometheus metric VoiceLens exports, defined once.

Conventions: ``voicelens_`` prefix, base units (seconds, bytes), ``_total`` counters, histograms
for latency. Labels are bounded: scenario, provider, topic, partition, result, status class,
reason — never call ids, URLs or anything carrying a secret. Which process a series came from is
the scrape target's business (``instance``, or ``pod`` on Kubernetes); ``voicelens_build_info``
maps it to the consumer id, so no per-consumer label rides on every series.
"""

from __future__ import annotations

from importlib import metadata

from prometheus_client import Counter, Gauge, Histogram, Info, disable_created_metrics

from voicelens.schemas.dead_letters import DeadLetterReason

__all__ = [
    "BROKER_UP",
    "BUILD_INFO",
    "COMMITS",
    "CONSUMER_LAG",
    "DEAD_LETTERED",
    "DEAD_LETTER_REASONS",
    "DELIVERED",
    "DELIVERY_ATTEMPTS",
    "DELIVERY_LATENCY",
    "ENDPOINT_OPEN_SECONDS",
    "ENDPOINT_PROBES",
    "ENDPOINT_STATE",
    "ENDPOINT_TRANSITIONS",
    "GENERATED",
    "IN_FLIGHT",
    "PARTITIONS_ASSIGNED",
    "PARTITION_RATE_BUDGET",
    "PRODUCED_BYTES",
    "PRODUCED_RECORDS",
    "RATE_LIMIT_WAIT",
    "REBALANCES",
    "RECORDS_AT_RISK",
    "RETRIES",
    "SKIPPED_FINISHED",
    "WEBHOOK_REQUEST_DURATION",
    "describe_process",
    "partition_assigned",
    "partition_released",
    "status_class",
]

# The ``_created`` gauges would double the series of every counter and histogram, and neither the
# dashboard nor the alerts read them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

BUILD_INFO = Info(
    "voicelens_build", "VoiceLens version, role and (for deliver) consumer id of this process"
)

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
SKIPPED_FINISHED = Counter(
    "voicelens_skipped_finished_total",
    "Records not posted again: a previous owner finished them (the committed completion map)",
)
IN_FLIGHT = Gauge("voicelens_in_flight", "Records taken from Kafka and not yet finished")
RECORDS_AT_RISK = Gauge(
    "voicelens_records_at_risk",
    "Records whose first request may have gone out and that no acknowledged commit covers "
    "(what a broker failure would re-deliver; at most --max-uncommitted)",
)
RATE_LIMIT_WAIT = Counter(
    "voicelens_rate_limit_wait_seconds_total",
    "Time records waited for a rate-limit token",
    ["partition"],
)
# Per webhook endpoint: its index in --webhook-url, never the URL (it may hold a secret).
ENDPOINT_STATE = Gauge(
    "voicelens_endpoint_state",
    "Circuit breaker of a webhook endpoint: 0 closed, 1 half-open (probing), 2 open",
    ["endpoint"],
)
ENDPOINT_TRANSITIONS = Counter(
    "voicelens_endpoint_transitions_total",
    "Circuit breaker transitions of a webhook endpoint, by the state entered",
    ["endpoint", "to"],
)
ENDPOINT_OPEN_SECONDS = Counter(
    "voicelens_endpoint_open_seconds_total",
    "Seconds a webhook endpoint's breaker spent open or half-open (counted at each transition)",
    ["endpoint"],
)
ENDPOINT_PROBES = Counter(
    "voicelens_endpoint_probes_total",
    "Probe requests a half-open breaker let through to a webhook endpoint",
    ["endpoint"],
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
BROKER_UP = Gauge(
    "voicelens_kafka_broker_up",
    "1 while the Kafka client reports a connected broker (librdkafka statistics), else 0",
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


#: The bounded values of ``voicelens_dead_lettered_total{reason}``: the enum's, no other.
DEAD_LETTER_REASONS = tuple(reason.value for reason in DeadLetterReason)


def describe_process(role: str, consumer_id: str | None = None) -> None:
    """Fill ``voicelens_build_info`` and create the series alerts divide by at zero.

    A counter child that appears only at its first increment hides that increment from
    ``increase()``, and a ratio over a missing series is no ratio at all; so a delivering process
    exports its dead-letter reasons at 0 from the start.
    """
    try:
        version = metadata.version("voicelens")
    except metadata.PackageNotFoundError:
        version = "unknown"
    info = {"version": version, "role": role}
    if consumer_id:
        info["consumer_id"] = consumer_id
    BUILD_INFO.info(info)
    if role == "deliver":
        for reason in DEAD_LETTER_REASONS:
            DEAD_LETTERED.labels(reason)
        DELIVERY_ATTEMPTS.labels("success", "2xx")


def partition_assigned(topic: str, partition: int, rps: float | None) -> None:
    """A partition joined this consumer: its budget, and its counters at 0."""
    label = str(partition)
    PARTITION_RATE_BUDGET.labels(label).set(rps or 0)
    DELIVERED.labels(topic, label)
    RATE_LIMIT_WAIT.labels(label)


def partition_released(topic: str, partition: int) -> None:
    """A partition left this consumer: drop its gauges.

    Kept, they would freeze at their last value next to the new owner's and be summed twice.
    """
    label = str(partition)
    CONSUMER_LAG.remove(topic, label)
    PARTITION_RATE_BUDGET.remove(label)


def status_class(status: int | None, *, timeout: bool = False) -> str:
    """Bounded label for an HTTP outcome."""
    if timeout:
        return "timeout"
    if status is None:
        return "connection"
    return f"{status // 100}xx"
