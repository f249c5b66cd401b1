"""``--metrics-host`` chooses the address the metrics listener binds (0.0.0.0 by default, where
pods are scraped from other hosts)."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from delivery_support import deliver_cmd, free_port

from voicelens.consumer.deliver_command import DeliverCommand
from voicelens.producer.produce_command import ProduceCommand
from voicelens.settings import KafkaSettings


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of TCP sockets listening on ``port``, from the kernel's own table."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_default_is_every_interface_for_both_commands() -> None:
    for command in (DeliverCommand, ProduceCommand):
        assert command.model_fields["metrics_host"].default == "0.0.0.0"


@pytest.mark.kafka
def test_deliver_binds_its_metrics_listener_to_the_given_host(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    tmp_path: Path,
) -> None:
    topic = topic_factory(1)
    port = free_port()
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group_factory(),
        f"http://127.0.0.1:{free_port()}",  # no record to deliver: never called
        "--metrics-port",
        str(port),
        "--metrics-host",
        "127.0.0.1",
    )
    with (tmp_path / "deliver.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "deliver.log").read_text()
                assert time.monotonic() < deadline, "the metrics listener never answered"
                time.sleep(0.2)
        # 0100007F is 127.0.0.1 as the kernel's table writes it; 00000000 would be 0.0.0.0.
        assert _listening_addresses(port) == {"0100007F"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, (tmp_path / "deliver.log").read_text()
