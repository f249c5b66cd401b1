"""How often the delivery loop cycles to the Kafka thread while records are in process: as
fast as records can finish, no faster (consumer/service.py, busy_wait)."""

from __future__ import annotations

import dataclasses

import pytest
from delivery_support import delivery_config

from voicelens.consumer.service import busy_wait

BASE = delivery_config()


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
