"""``make demo`` on a machine where 127.0.0.1:9092 is already taken: it says in one line what it
does, and never shows a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "demo.py"
JARS = Path(os.environ.get("VOICELENS_CACHE", ROOT / ".cache")) / "kafka" / "libs"

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _cache(tmp_path: Path) -> Path:
    """A cache of its own, so this checkout's broker is not "ours"; the jars are shared."""
    cache = tmp_path / "cache"
    (cache / "kafka").mkdir(parents=True)
    (cache / "kafka" / "libs").symlink_to(JARS)
    if not (JARS / ".pom.sha256").exists():
        pytest.fail("no Kafka jars: run `make kafka-up` first")
    return cache


def _run_demo(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VOICELENS_", "KAFKA_", "DEMO_"))
    }
    env |= {
        "VOICELENS_CACHE": str(_cache(tmp_path)),
        "KAFKA_PORT": str(port),
        "KAFKA_HEAP": "256m",
        "DEMO_COUNT": "60",
        "DEMO_DAYS": "7",
        "DEMO_CONSUMERS": "1",
        "DEMO_OUT": str(tmp_path / "out"),
    }
    return subprocess.run(
        [sys.executable, str(DEMO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def not_kafka() -> Iterator[int]:
    """Something that is not a Kafka broker listening on a port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.timeout(300)
def test_a_port_taken_by_something_else_gets_a_broker_of_its_own(
    tmp_path: Path, not_kafka: int
) -> None:
    run = _run_demo(tmp_path, not_kafka)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert f"127.0.0.1:{not_kafka} is taken by something that is not a Kafka broker" in run.stderr
    assert "starting a broker of its own on 127.0.0.1:" in run.stderr
    assert "60 unique call ids at the webhook" in run.stderr
    # The broker it started is stopped again.
    assert "stopping broker" in run.stderr


@pytest.mark.timeout(300)
def test_a_kafka_broker_that_answers_is_used(tmp_path: Path, kafka_bootstrap: str) -> None:
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    run = _run_demo(tmp_path, port)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"using the Kafka broker that answers at 127.0.0.1:{port}" in run.stderr
    assert "starting a broker" not in run.stderr
    assert "starting a local broker" not in run.stderr
    assert "Traceback" not in run.stderr
