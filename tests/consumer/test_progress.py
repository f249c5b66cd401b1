"""What a person (or a log shipper) sees while `voicelens deliver` runs: on a terminal, readable
log lines and a live display; elsewhere, or with --log-format json, one JSON object per line.
The display counts webhook requests in flight and records waiting apart, by the README's names."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from delivery_support import Sink, deliver_cmd, produce_conversations

from voicelens.consumer.progress import Snapshot, _Rates, format_eta
from voicelens.settings import KafkaSettings

RECORDS = 40
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")}
    return {**env, "COLUMNS": "200", **extra}


def _in_a_terminal(args: list[str], timeout: float = 90) -> tuple[int, str]:
    """Run ``args`` with stdin, stdout and stderr on a pseudo-terminal; (exit code, output)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=_env())
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer has gone
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    code = proc.wait(timeout=30)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def backlog(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    sink_factory: Callable[..., Sink],
) -> tuple[str, Sink]:
    topic = topic_factory(2)
    produce_conversations(kafka_settings, topic, RECORDS)
    return topic, sink_factory("--reject-rate", "0.2", "--seed", "5")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.kafka
def test_a_terminal_gets_readable_lines_and_a_live_display(
    kafka_settings: KafkaSettings, group_factory: Callable[[], str], backlog: tuple[str, Sink]
) -> None:
    topic, sink = backlog
    cmd = deliver_cmd(kafka_settings, topic, group_factory(), sink.url, "--until-drained")
    code, raw = _in_a_terminal(cmd)
    assert code == 0, raw
    text = _ANSI.sub("", raw)
    assert "\x1b[" in raw  # drawn by rich: colours and cursor moves of the live display
    assert not [line for line in text.splitlines() if line.lstrip().startswith('{"ts"')]
    assert "voicelens.deliver: delivering" in text
    final = [line for line in text.splitlines() if "requests in flight" in line][-1]
    for name in ("delivered", "dead-lettered", "records waiting", "rate", "lag", "ETA"):
        assert name in final, final
    numbers = dict(re.findall(r"(delivered|dead-lettered) ([\d,]+)", final))
    assert int(numbers["delivered"]) + int(numbers["dead-lettered"]) == RECORDS
    assert "requests in flight 0/64" in final
    assert "records waiting 0" in final
    assert "SuperSecretToken123" not in raw


@pytest.mark.kafka
def test_json_lines_when_not_a_terminal_or_when_asked(
    kafka_settings: KafkaSettings,
    group_factory: Callable[[], str],
    backlog: tuple[str, Sink],
    tmp_path: Path,
) -> None:
    topic, sink = backlog
    piped = subprocess.run(
        deliver_cmd(kafka_settings, topic, group_factory(), sink.url, "--until-drained"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    # Every line is a JSON object but the command's closing summary.
    lines = piped.stderr.strip().splitlines()
    assert lines[-1].startswith("delivered ")
    records = [json.loads(line) for line in lines[:-1]]
    progress = [r for r in records if r["logger"] == "voicelens.deliver.progress"]
    last = progress[-1]
    assert last["delivered"] + last["dead_lettered"] == RECORDS
    assert last["dead_lettered"] > 0
    assert last["requests_in_flight"] == 0
    assert last["records_waiting"] == 0
    assert {"rate", "lag", "eta_s"} <= last.keys()

    code, raw = _in_a_terminal(
        deliver_cmd(
            kafka_settings,
            topic,
            group_factory(),
            sink.url,
            "--until-drained",
            "--log-format",
            "json",
        )
    )
    assert code == 0, raw
    assert "\x1b[" not in raw  # no live display, no colours
    records = _json_lines(raw.replace("\r\n", "\n"))
    assert any(r["logger"] == "voicelens.deliver.progress" for r in records)


def test_eta_follows_the_recent_rate() -> None:
    rates = _Rates()
    snap = Snapshot(
        at=0.0,
        delivered=0,
        dead_lettered=0,
        requests_in_flight=0,
        max_in_flight=64,
        records_waiting=0,
        lag=1000,
    )
    assert rates.add(snap) == (0.0, None)  # nothing finished yet: no estimate
    later = Snapshot(
        at=10.0,
        delivered=90,
        dead_lettered=10,
        requests_in_flight=8,
        max_in_flight=64,
        records_waiting=30,
        lag=900,
    )
    rate, eta = rates.add(later)
    assert rate == pytest.approx(10.0)
    assert eta == pytest.approx(90.0)
    assert format_eta(eta) == "1:30"
    assert format_eta(3725) == "1:02:05"
    assert format_eta(None) == "-"
