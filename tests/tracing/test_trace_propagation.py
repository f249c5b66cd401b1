"""One trace from generation to the webhook, with the real commands, broker and receiver.

``produce`` (traced, then untraced) fills a topic; ``deliver`` (traced) posts it to a local
aiohttp receiver that records every request's headers, answers one call 503 once (a retry) and
rejects another with 422 (a dead letter); ``replay`` (traced) puts the dead letter back; a
second ``deliver`` runs untraced. Spans are read from the console exporter's JSON on each
command's standard output. A recognisable secret sits in the webhook's path and query and in
the signing key: it must appear in no span, log line or output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from confluent_kafka import Message

from voicelens.consumer.replay import REPLAYED_FROM_HEADER
from voicelens.kafka import TopicAdmin, read_topic
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

#: W3C Trace Context: version 00, lowercase hex, non-zero trace and span ids, then the flags
#: (bit 0: sampled; bit 1, set by the SDK, is Trace Context level 2's "random trace id").
TRACEPARENT = re.compile(r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})$")
SECRET_PATH = "/hooks/TRACE-SECRET-PATH-7f3a"
SECRET_QUERY = "token=TRACE-SECRET-QUERY-91c2"
SIGNING_KEY = base64.b64encode(b"TRACE-SIGNING-KEY-SECRET-32bytes").decode()
SECRETS = ("TRACE-SECRET-PATH", "TRACE-SECRET-QUERY", SIGNING_KEY, "TRACE-SIGNING-KEY")
END_TIME = "2026-11-01T00:00:00Z"


@dataclass
class Receiver:
    """A webhook on loopback that records each request's trace headers by call id."""

    busy_once: set[str] = field(default_factory=set)
    reject: set[str] = field(default_factory=set)
    requests: list[tuple[str, list[str]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        call_id = json.loads(await request.read())["call_id"]
        self.requests.append((call_id, request.headers.getall("traceparent", [])))
        if call_id in self.busy_once:
            self.busy_once.discard(call_id)
            return web.Response(status=503)
        return web.Response(status=422 if call_id in self.reject else 200)

    def take(self) -> list[tuple[str, list[str]]]:
        taken, self.requests = self.requests, []
        return taken


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}{SECRET_PATH}?{SECRET_QUERY}"
    yield state
    await runner.cleanup()


@dataclass
class Ran:
    stdout: str
    stderr: str

    def spans(self) -> list[dict[str, Any]]:
        """The console exporter's span objects (pretty-printed JSON, one after another)."""
        decoder, text, at, out = json.JSONDecoder(), self.stdout, 0, []
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at == len(text):
                return out
            span, at = decoder.raw_decode(text, at)
            out.append(span)


async def _voicelens(*args: str, traced: bool, **extra: str) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra, VOICELENS_LOG_FORMAT="json")
    if traced:
        env["OTEL_TRACES_EXPORTER"] = "console"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicelens",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    ran = Ran(out.decode(), err.decode())
    assert proc.returncode == 0, f"voicelens {args[0]} exited {proc.returncode}: {ran.stderr}"
    return ran


def _hex(value: str) -> str:
    """A console span's ``0x…`` id as the lowercase hex of a traceparent."""
    return value.removeprefix("0x")


def _records(settings: KafkaSettings, topic: str) -> list[Message]:
    return list(read_topic(settings, topic, lambda m: m))


def _trace_headers(msg: Message) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for name, value in msg.headers() or []:
        if name in ("traceparent", "tracestate"):
            found.setdefault(name, []).append(value or b"")
    return found


def _parse(traceparent: str) -> tuple[str, str]:
    match = TRACEPARENT.match(traceparent)
    assert match is not None, traceparent
    assert int(match.group(3), 16) & 1, traceparent  # sampled
    return match.group(1), match.group(2)


def _no_secret(*runs: Ran) -> None:
    for run in runs:
        for secret in SECRETS:
            assert secret not in run.stdout
            assert secret not in run.stderr


def _only(spans: list[dict[str, Any]], pick: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    (one,) = [s for s in spans if pick(s)]
    return one


async def test_a_record_is_one_trace_from_produce_to_the_webhook(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    admin: TopicAdmin,
    receiver: Receiver,
) -> None:
    bootstrap = ["--bootstrap-servers", kafka_settings.bootstrap_servers]
    topic = topic_factory(2)
    datasets, deliveries = topic_factory(1), topic_factory(2)
    produce = [*bootstrap, "--topic", topic, "--datasets-topic", datasets, "--partitions", "2"]
    produce += ["--workers", "1"]
    window = ["--end-time", END_TIME]
    try:
        # ---------------------------------------------------------------- produce
        made = await _voicelens(
            "produce", *produce, *window, "--count", "6", "--seed", "7", traced=True
        )
        plain = await _voicelens(
            "produce", *produce, *window, "--count", "3", "--seed", "8", traced=False
        )
        assert plain.stdout == ""
        records = _records(kafka_settings, topic)
        assert len(records) == 9
        sends = {s["attributes"]["messaging.kafka.message.key"]: s for s in made.spans()}
        traced: dict[str, tuple[str, str]] = {}  # call id -> (trace id, span id) of its record
        untraced: list[str] = []
        where: dict[str, tuple[int, int]] = {}
        for msg in records:
            call_id = (msg.key() or b"").decode()
            where[call_id] = (msg.partition() or 0, msg.offset() or 0)
            headers = _trace_headers(msg)
            if call_id not in sends:
                assert headers == {}  # tracing off: no trace headers at all
                untraced.append(call_id)
                continue
            (value,) = headers["traceparent"]
            traced[call_id] = _parse(value.decode())
            span = sends[call_id]
            assert (_hex(span["context"]["trace_id"]), _hex(span["context"]["span_id"])) == (
                traced[call_id]
            )
            assert span["kind"] == "SpanKind.PRODUCER"
            assert span["parent_id"] is None  # each record its own trace
            assert span["name"] == f"send {topic}"
            assert span["attributes"]["messaging.system"] == "kafka"
            assert span["attributes"]["messaging.operation.type"] == "send"
            assert span["attributes"]["messaging.destination.name"] == topic
        assert len(traced) == 6
        assert len(untraced) == 3
        assert len({trace for trace, _ in traced.values()}) == 6

        # ---------------------------------------------------------------- deliver, traced
        retried, rejected, *_ = sorted(traced)
        receiver.busy_once.add(retried)
        receiver.reject.add(rejected)
        group = group_factory()
        deliver = [
            "deliver",
            *bootstrap,
            "--topic",
            topic,
            "--deliveries-topic",
            deliveries,
            "--webhook-url",
            receiver.url,
            "--until-drained",
        ]
        signing = {"VOICELENS_SIGNING_SECRET": f"whsec_{SIGNING_KEY}"}
        run = await _voicelens(*deliver, "--group", group, traced=True, **signing)
        spans = run.spans()
        by_id = {_hex(s["context"]["span_id"]): s for s in spans}
        processes = {
            s["attributes"]["messaging.kafka.message.key"]: s
            for s in spans
            if s["kind"] == "SpanKind.CONSUMER"
        }
        assert set(processes) == set(traced) | set(untraced)
        requests = receiver.take()
        assert len(requests) == 10  # 9 records, one of them twice
        for call_id, values in requests:
            (value,) = values  # exactly one traceparent per request
            trace_id, span_id = _parse(value)
            process = processes[call_id]
            assert trace_id == _hex(process["context"]["trace_id"])
            if call_id in traced:
                # The receiver's trace continues the record's trace from produce.
                assert trace_id == traced[call_id][0]
                assert _hex(process["parent_id"]) == traced[call_id][1]
            else:
                assert process["parent_id"] is None  # no context on the record: a new trace
            attempt = by_id[span_id]  # the request names its own attempt span
            assert attempt["kind"] == "SpanKind.CLIENT"
            assert attempt["parent_id"] == process["context"]["span_id"]
            attributes = attempt["attributes"]
            assert attributes["http.request.method"] == "POST"
            assert attributes["server.address"] == "127.0.0.1"
            assert attributes["server.port"] == int(receiver.url.split(":")[2].split("/")[0])
            assert attributes["url.full"].endswith("/…")
        for call_id, process in processes.items():
            attributes = process["attributes"]
            assert process["name"] == f"process {topic}"
            assert attributes["messaging.system"] == "kafka"
            assert attributes["messaging.operation.type"] == "process"
            assert attributes["messaging.destination.name"] == topic
            assert attributes["messaging.consumer.group.name"] == group
            partition, offset = where[call_id]
            assert attributes["messaging.destination.partition.id"] == str(partition)
            assert attributes["messaging.kafka.offset"] == offset
        attempts = [s for s in spans if s["kind"] == "SpanKind.CLIENT"]
        codes = sorted(s["attributes"]["http.response.status_code"] for s in attempts)
        assert codes == [200] * 8 + [422, 503]
        busy = _only(attempts, lambda s: s["attributes"]["http.response.status_code"] == 503)
        again = _only(attempts, lambda s: "http.request.resend_count" in s["attributes"])
        assert busy["attributes"]["error.type"] == "503"
        assert again["attributes"]["http.request.resend_count"] == 1
        assert again["parent_id"] == busy["parent_id"]
        refused = _only(attempts, lambda s: s["attributes"]["http.response.status_code"] == 422)
        assert refused["attributes"]["error.type"] == "422"
        assert processes[rejected]["attributes"]["error.type"] == "rejected"
        dead = _only(spans, lambda s: s["name"] == f"send {topic}.dlq")
        assert dead["parent_id"] == processes[rejected]["context"]["span_id"]
        (link,) = dead["links"]
        assert (_hex(link["context"]["trace_id"]), _hex(link["context"]["span_id"])) == (
            traced[rejected]
        )

        # ---------------------------------------------------------------- replay, traced
        replayed = await _voicelens(
            "replay", *bootstrap, "--topic", topic, "--group", group_factory(), traced=True
        )
        (resend,) = replayed.spans()
        (link,) = resend["links"]
        assert (_hex(link["context"]["trace_id"]), _hex(link["context"]["span_id"])) == (
            traced[rejected]
        )
        back = [
            m
            for m in _records(kafka_settings, topic)
            if any(k == REPLAYED_FROM_HEADER for k, _ in m.headers() or [])
        ]
        (again_record,) = back
        (value,) = _trace_headers(again_record)["traceparent"]  # the replay's, not the original
        assert _parse(value.decode()) == (
            _hex(resend["context"]["trace_id"]),
            _hex(resend["context"]["span_id"]),
        )

        # ---------------------------------------------------------------- deliver, untraced
        quiet = await _voicelens(*deliver, "--group", group_factory(), traced=False, **signing)
        assert quiet.stdout == ""
        requests = receiver.take()
        assert len(requests) == 10  # 9 records and the replayed one, none retried
        assert all(values == [] for _, values in requests)  # records had context; requests none
        _no_secret(made, plain, run, replayed, quiet)
    finally:
        admin.delete_topics([f"{topic}.dlq"])
