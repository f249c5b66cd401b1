"""How often the delivery loop cycles to the Kafka thread while records are in process: as
fast as records can finish, no faster (consumer/service.py, busy_wait)."""

from __future__ import annotations

import dataclasses

import pytest

from voicelens.consumer.service import DeliveryConfig, busy_wait

BASE = DeliveryConfig(
    topic="t",
    group="g",
    consumer_id="c",
    deliveries_topic="d",
    dlq_topic="t.dlq",
    webhook_label="http://h/…",
    partition_rps=None,
    partitions=6,
    max_in_flight=64,
    partition_window=16,
    grace=1.0,
    revoke_timeout=1.0,
    until_drained=False,
    end_offsets={},
)


def test_unlimited_delivery_cycles_every_5_ms() -> None:
    assert BASE.group_budget is None
    assert busy_wait(BASE) == 0.005


@pytest.mark.parametrize(
    ("changes", "budget", "wait"),
    [
        ({"endpoint_rps": 10.0}, 10.0, 0.05),  # capped: commits within 50 ms
        ({"endpoint_rps": 40.0}, 40.0, 0.025),  # one request interval of the budget
        ({"endpoint_rps": 40.0, "endpoints": 2}, 80.0, 0.0125),  # every endpoint's budget
        ({"partition_rps": 5.0}, 30.0, 1 / 30),  # 5/s on each of 6 partitions
        ({"endpoint_rps": 1000.0}, 1000.0, 0.005),  # faster budgets: as unlimited
    ],
)
def test_a_paced_group_cycles_once_per_request_interval(
    changes: dict[str, float], budget: float, wait: float
) -> None:
    config = dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]
    assert config.group_budget == pytest.approx(budget)
    assert busy_wait(config) == pytest.approx(wait)
