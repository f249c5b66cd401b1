"""The HTTP policy end to end: ``voicelens deliver`` against the real broker and a receiver that
redirects, with each client (pooled, aiohttp, aiohttp behind a local proxy).

The issue this answers: with aiohttp's client, or whenever a proxy applied, a 301 was followed
as a bodiless GET and the record counted as delivered. No redirect may ever count as delivered.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from delivery_support import (
    SECRET_PATH,
    dead_letters,
    deliver_cmd,
    deliveries,
    produce_conversations,
)
from http_support import Client, Script

from voicelens.kafka import TopicAdmin
from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
COUNT = 20


def _flags(client: Client) -> tuple[str, ...]:
    # "proxy" asks for the pooled client: the environment's proxy makes delivery use aiohttp.
    return ("--http-client", "aiohttp") if client.kind == "aiohttp" else ()


async def _deliver(cmd: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stderr=subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_a_redirecting_webhook_gets_every_record_dead_lettered_as_redirected(
    client: Client,
    serve: Callable[..., Awaitable[Script]],
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
) -> None:
    topic = topic_factory(2)
    ids = produce_conversations(kafka_settings, topic, COUNT)
    moved = b"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    receiver = await serve(lambda _n: moved)
    group = group_factory()
    cmd = deliver_cmd(
        kafka_settings, topic, group, receiver.url, "--until-drained", *_flags(client)
    )
    code, err = await _deliver(cmd)
    assert code == 0, err
    assert f"delivered 0, dead-lettered {COUNT}" in err
    # Every request a POST to the webhook itself: nothing followed, no GET anywhere.
    assert set(receiver.request_lines()) == {f"POST {SECRET_PATH} HTTP/1.1"}
    assert len(receiver.requests) == COUNT  # a redirect is permanent: never retried
    if client.proxy is not None:
        assert len(client.proxy.requests) == COUNT
    dlq = dead_letters(kafka_settings, topic)
    assert sorted(m.key().decode() for m in dlq) == sorted(ids)
    assert {dict(m.headers())["voicelens-dlq-reason"] for m in dlq} == {b"redirected"}
    assert {dict(m.headers())["voicelens-dlq-detail"] for m in dlq} == {b"HTTP 301"}
    events = deliveries(kafka_settings, topic)
    assert Counter(e["outcome"] for e in events) == {"dead_lettered": COUNT}
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)


async def test_follow_redirects_delivers_through_a_307_to_the_same_origin(
    client: Client,
    serve: Callable[..., Awaitable[Script]],
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
) -> None:
    topic = topic_factory(2)
    ids = produce_conversations(kafka_settings, topic, COUNT)
    receiver = await serve(lambda _n: OK)
    temporary = (
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2/hook\r\nContent-Length: 0\r\n\r\n"
    )
    receiver.route = lambda head: OK if head.startswith(b"POST /v2/hook ") else temporary
    group = group_factory()
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group,
        receiver.url,
        "--until-drained",
        "--follow-redirects",
        *_flags(client),
    )
    code, err = await _deliver(cmd)
    assert code == 0, err
    assert f"delivered {COUNT}, dead-lettered 0" in err
    lines = Counter(receiver.request_lines())
    assert lines == {f"POST {SECRET_PATH} HTTP/1.1": COUNT, "POST /v2/hook HTTP/1.1": COUNT}
    delivered = [r for r in receiver.requests if r.startswith(b"POST /v2/hook ")]
    assert sorted(json.loads(r.partition(b"\r\n\r\n")[2])["call_id"] for r in delivered) == sorted(
        ids
    )
