"""Helpers for delivery tests: a real sink process, records on a real topic, a deliver command."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicelens.kafka import KafkaProducer
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.report.readers import read_topic
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope, DeliveryEventCodec
from voicelens.settings import KafkaSettings

SECRET_PATH = "/vcp-webhook/a/acme/s/SuperSecretToken123"


@dataclass
class Sink:
    url: str
    record: Path
    proc: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=5) as resp:  # noqa: S310
            data: dict[str, Any] = json.loads(resp.read())
            return data

    def requests(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.record.read_text().splitlines() if x.strip()]


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def produce_conversations(
    settings: KafkaSettings, topic: str, n: int, *, poison: int = 0, seed: int = 3
) -> list[str]:
    """n generated conversations (plus ``poison`` undecodable records); returns the call ids."""
    ds = Dataset.from_options(GeneratorOptions(count=n, seed=seed, end_time="2026-11-01T00:00:00Z"))
    codec = ConversationCodec()
    ids = []
    with KafkaProducer(settings) as producer:
        for i, conv in enumerate(ds.conversations()):
            env = ConversationEnvelope(f"e{i}", ds.dataset_id, i, 0, "test")
            producer.produce(topic, codec.encode(env, conv), conv["call_id"].encode())
            ids.append(conv["call_id"])
        for j in range(poison):
            producer.produce(topic, b"\x00not avro at all", f"poison-{j}".encode())
    return ids


def deliver_cmd(
    settings: KafkaSettings, topic: str, group: str, url: str, *flags: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "voicelens",
        "deliver",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--topic",
        topic,
        "--group",
        group,
        "--deliveries-topic",
        f"{topic}-deliveries",
        "--webhook-url",
        url + SECRET_PATH,
        *flags,
    ]


def deliveries(settings: KafkaSettings, topic: str) -> list[dict[str, Any]]:
    codec = DeliveryEventCodec()
    return list(
        read_topic(settings, f"{topic}-deliveries", lambda m: codec.decode(m.value() or b""))
    )


def dead_letters(settings: KafkaSettings, topic: str) -> list[Any]:
    return list(read_topic(settings, f"{topic}.dlq", lambda m: m))


def start_sink(tmp_path: Path, *flags: str) -> Sink:
    """`voicelens sink` as a real process on a free port, recording requests."""
    port = free_port()
    record = tmp_path / f"sink-{port}.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voicelens",
            "sink",
            "--port",
            str(port),
            "--record",
            str(record),
            *flags,
        ],
        stderr=subprocess.DEVNULL,
    )
    sink = Sink(f"http://127.0.0.1:{port}", record, proc)
    deadline = time.monotonic() + 20
    while True:
        try:
            sink.stats()
            return sink
        except OSError:
            assert proc.poll() is None, "sink exited during start-up"
            assert time.monotonic() < deadline, "sink did not start"
            time.sleep(0.1)


def stop_sink(sink: Sink) -> None:
    """Stop a sink process."""
    sink.proc.send_signal(signal.SIGTERM)
    try:
        sink.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sink.proc.kill()
        sink.proc.wait()
