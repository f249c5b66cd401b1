"""Delivery guarantees under real faults (issue 12): a hostile receiver, a member killed -9
early and replaced, the real broker. Figures before and after are in bench/README.md
(``bench/chaos.py`` runs this same scenario on any checkout)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from chaos_support import CALLS, PARTITIONS, SINK_FLAGS, run_chaos
from delivery_support import Sink

from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_a_killed_member_loses_nothing_and_redelivers_only_what_was_in_flight(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
    tmp_path: Path,
) -> None:
    topic = topic_factory(PARTITIONS)
    sink = sink_factory(*SINK_FLAGS)
    # The replacement joins as a new member (no --group-instance-id): the group moves the
    # killed member's partitions once its session (--session-timeout, 10 s) expires. A static
    # replacement would take the dead member's place without any rebalance, and so would
    # strand partitions the dead member was giving up in a cooperative rebalance (README).
    result = run_chaos(kafka_settings, topic, group_factory(), sink, tmp_path)
    print(result.summary())
    assert result.exit_codes == [0, 0], result.errors
    assert result.calls == CALLS
    assert result.lost == 0
    # Permanent rejects end in the DLQ, and nothing else does (the retriable ones got through).
    assert result.rejected_unaccounted == 0
    assert result.dead_not_rejected == 0
    assert set(result.dead_letters) == {"rejected"}
    assert 20 < result.dead_letters["rejected"] < 120  # ~2 % of 3,000
    # Re-delivered: at most what the killed member had in flight, plus hung attempts the
    # receiver may still take.
    assert result.killed_held, "the kill must land while the member holds partitions"
    assert result.duplicates <= result.in_flight_bound + result.hung_attempts
    # Every partition the killed member held delivered again within 15 s.
    assert set(result.resume_seconds) == set(result.killed_held)
    assert result.resume <= 15
