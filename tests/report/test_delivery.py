"""Delivery statistics from delivery events (built by the consumer's own event function)."""

from __future__ import annotations

from typing import Any

from voicelens.consumer.outcomes import Outcome, delivery_event
from voicelens.report.delivery import delivery_stats, scrub
from voicelens.schemas.dead_letters import DeadLetterReason

SECRET = "/vcp-webhook/a/acme/s/SuperSecretToken123"
_clock = iter(range(1_000_000, 10**9, 1000))


def _event(
    call_id: str | None,
    *,
    delivered: bool = True,
    group: str = "g1",
    attempts: int = 1,
    latency: int = 100,
    reason: DeadLetterReason = DeadLetterReason.REJECTED,
    status: int | None = None,
    webhook: str = "http://127.0.0.1:8787/…",
    offset: int = 0,
) -> dict[str, Any]:
    first = next(_clock)
    outcome = Outcome(
        delivered,
        status or (200 if delivered else 422),
        attempts,
        None if delivered else reason,
        first,
        first + latency,
        first + latency,
    )
    if reason is DeadLetterReason.UNDECODABLE:
        outcome.status = None
    event = delivery_event(
        outcome=outcome,
        call_id=call_id,
        dataset_id="ds-1" if call_id else None,
        idempotency_key=f"msg_{call_id}",
        consumer_id="c1",
        group=group,
        topic="t",
        partition=0,
        offset=offset,
        webhook=webhook,
    )
    return dict(event)


IDS = {"a", "b", "c", "d"}


def test_counts_of_a_plain_run() -> None:
    events = [
        _event("a", latency=10),
        _event("b", latency=20),
        _event("c", latency=30, attempts=3),
        _event("d", delivered=False),
    ]
    stats = delivery_stats(events, IDS)
    assert (stats["delivered"], stats["dead_lettered"], stats["duplicates"], stats["missing"]) == (
        3,
        1,
        0,
        0,
    )
    assert stats["dead_letter_reasons"] == {"rejected (HTTP 422)": 1}
    assert stats["attempts"] == {"1": 3, "3": 1}
    assert stats["retries"] == 2
    assert stats["success_rate"] == 0.75
    # Latency percentiles are of deliveries only: the dead letter's 100 ms is not among them.
    assert stats["latency_ms"]["max"] == 30.0
    assert stats["latency_ms"]["p50"] == 20.0
    assert set(stats["latency_ms"]) == {"p50", "p90", "p95", "p99", "max"}
    assert stats["throughput_per_second"] is not None


def test_a_second_delivery_to_the_same_group_is_a_duplicate_but_another_group_is_not() -> None:
    events = [
        _event("a", offset=1),
        _event("a", offset=1),  # re-delivered after a crash: new event id, same group
        _event("a", offset=1),
        _event("a", group="g2", offset=1),  # a second destination
        _event("b", offset=2),
    ]
    stats = delivery_stats(events, IDS)
    assert stats["duplicates"] == 2
    assert stats["by_group"]["g1"]["duplicates"] == 2
    assert stats["by_group"]["g2"] == {
        "events": 1,
        "delivered": 1,
        "dead_lettered": 0,
        "duplicates": 0,
    }
    assert stats["delivered"] == 2
    assert stats["missing"] == 2


def test_an_event_written_twice_is_counted_once() -> None:
    event = _event("a")
    stats = delivery_stats([event, dict(event)], IDS)
    assert stats["events"] == 1
    assert stats["duplicates"] == 0


def test_a_dead_letter_delivered_after_replay_counts_as_delivered() -> None:
    stats = delivery_stats([_event("a", delivered=False), _event("a")], IDS)
    assert stats["delivered"] == 1
    assert stats["dead_lettered"] == 0
    assert stats["recovered_after_dead_letter"] == 1
    assert stats["dead_letter_events"] == 1


def test_undecodable_records_are_reported_apart() -> None:
    poison = _event(None, delivered=False, reason=DeadLetterReason.UNDECODABLE)
    stats = delivery_stats([_event("a"), poison], IDS)
    assert stats["dead_lettered"] == 0
    assert stats["undecodable"] == {"events": 1, "reasons": {"undecodable": 1}}
    dlq = [{"call_id": None, "reason": "undecodable", "last_status": None}]
    stats = delivery_stats([_event("a"), poison], IDS, dlq)
    assert stats["dead_letter_topic"]["matches_delivery_events"] is True
    assert stats["dead_letter_topic"]["undecodable"] == 1


def test_dead_letter_topic_disagreeing_with_events_is_flagged() -> None:
    stats = delivery_stats([_event("a", delivered=False)], IDS, [])
    assert stats["dead_letter_topic"]["matches_delivery_events"] is False


def test_a_secret_in_a_webhook_label_or_reason_never_reaches_the_stats() -> None:
    leaky = _event(
        "a",
        delivered=False,
        webhook=f"https://hooks.example.com{SECRET}?token=abc",
    )
    # A reason that is no DeadLetterReason, as another writer might leave it.
    leaky["reason"] = f"connection error to https://hooks.example.com{SECRET}"
    dlq = [{"call_id": "a", "reason": f"see http://h.example.com:8080{SECRET}"}]
    stats = delivery_stats([leaky], IDS, dlq)
    text = repr(stats)
    assert "SuperSecretToken123" not in text
    assert "token=abc" not in text
    assert stats["webhooks"] == ["https://hooks.example.com/…"]


def test_scrub_keeps_host_and_port_only() -> None:
    assert (
        scrub(f"POST http://127.0.0.1:9999{SECRET} failed") == "POST http://127.0.0.1:9999/… failed"
    )
    assert scrub("no url here") == "no url here"


def test_no_events_at_all() -> None:
    stats = delivery_stats([], IDS)
    assert (stats["delivered"], stats["missing"], stats["latency_ms"]) == (0, 4, {})
    assert stats["throughput_per_second"] is None
