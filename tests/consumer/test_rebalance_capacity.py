"""Rebalances never leak capacity: a rate-limited member with few request slots sees its
partitions move away and back again and again, then, alone, still delivers at its budget
(the real broker, real processes; the rate is counted by the receiver, with generous bounds)."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable

import pytest
from delivery_support import Sink, deliver_cmd, free_port, produce_conversations

from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

BUDGET = 20  # req/s over the topic


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _rate_over(sink: Sink, seconds: float) -> float:
    """Requests/s the receiver accepted over the next ``seconds`` (its own clock)."""
    start = sink.stats()
    time.sleep(seconds)
    end = sink.stats()
    span = end["seconds"] - start["seconds"]
    # No request in the window means the member stopped sending: that reads as rate 0.
    return (end["accepted"] - start["accepted"]) / span if span > 0 else 0.0


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.timeout(400)
def test_after_partitions_move_away_and_back_a_member_still_sends_at_its_budget(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(6)
    produce_conversations(kafka_settings, topic, 2400)
    # Answers that take a while keep request slots busy: records sleep in the rate limiter
    # holding a slot, which is where a revoke cancels them.
    sink = sink_factory("--latency-ms", "20")
    group = group_factory()
    flags = ("--max-rps", str(BUDGET), "--max-in-flight", "4", "--grace", "5")
    cmd = deliver_cmd(kafka_settings, topic, group, sink.url, *flags)
    member = subprocess.Popen([*cmd, "--consumer-id", "stays"], stderr=subprocess.DEVNULL)
    try:
        _wait_for("delivery did not start", lambda: sink.stats()["accepted"] >= 20)
        time.sleep(2)
        before = _rate_over(sink, 6)  # alone, before any rebalance: the baseline
        for round_ in range(5):  # a second member joins and leaves, again and again
            port = free_port()
            other = subprocess.Popen(
                [*cmd, "--consumer-id", f"visitor-{round_}", "--metrics-port", str(port)],
                stderr=subprocess.PIPE,
                text=True,
            )
            # Ready = partitions assigned: the visitor took some from the member that stays.
            _wait_for("the visitor got no partitions", lambda p=port: _ready(p))
            other.send_signal(signal.SIGTERM)
            _, err = other.communicate(timeout=60)
            assert other.returncode == 0, err
        assert member.poll() is None
        # Alone again: let the group settle, then count what the receiver saw per second.
        time.sleep(3)
        after = _rate_over(sink, 6)
    finally:
        member.send_signal(signal.SIGTERM)
        try:
            member.wait(timeout=60)
        except subprocess.TimeoutExpired:
            member.kill()
            member.wait()
    # Leaked slots halved it (10 of 20 req/s at main's 5a51489) or stopped it.
    assert after >= 0.8 * before, (before, after)
    assert after <= 1.1 * BUDGET, after  # and the budget still holds
