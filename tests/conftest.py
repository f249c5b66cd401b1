"""Shared fixtures: the real Kafka broker, the real schema registry, unique topics and groups.

Tests that need Kafka take ``kafka_settings`` (directly or through a factory), tests that need
the schema registry ``schema_registry_url``. When the service does not answer, they *fail*
with a message saying how to start it — they never skip, in CI or out.
"""

from __future__ import annotations

import os
import re
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient

from voicelens.kafka import TopicAdmin, TopicSpec
from voicelens.settings import KafkaSettings

BOOTSTRAP = os.environ.get("VOICELENS_TEST_BOOTSTRAP", "127.0.0.1:9092")
SCHEMA_REGISTRY = os.environ.get(
    "VOICELENS_TEST_SCHEMA_REGISTRY", "http://127.0.0.1:8081/apis/ccompat/v7"
)


def _broker_answers(bootstrap: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=10).brokers)
    except Exception:  # any failure means "no broker"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of a live broker, or a failed test naming how to start one."""
    if not _broker_answers(BOOTSTRAP):
        pytest.fail(
            f"no Kafka broker answers at {BOOTSTRAP}: run `make kafka-up` "
            "(or set VOICELENS_TEST_BOOTSTRAP). Kafka tests fail rather than skip.",
            pytrace=False,
        )
    return BOOTSTRAP


@pytest.fixture(scope="session")
def schema_registry_url() -> str:
    """The Confluent-compatible API of a live schema registry, or a failed test saying how."""
    try:
        with urllib.request.urlopen(f"{SCHEMA_REGISTRY}/subjects", timeout=10) as answer:  # noqa: S310
            up = answer.status == 200
    except OSError:
        up = False
    if not up:
        pytest.fail(
            f"no schema registry answers at {SCHEMA_REGISTRY}: run `make registry-up` "
            "(or set VOICELENS_TEST_SCHEMA_REGISTRY). Registry tests fail rather than skip.",
            pytrace=False,
        )
    return SCHEMA_REGISTRY


@pytest.fixture(scope="session")
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Settings aimed at the test broker."""
    return KafkaSettings(bootstrap_servers=kafka_bootstrap)


@pytest.fixture(scope="session")
def admin(kafka_settings: KafkaSettings) -> TopicAdmin:
    """An admin client for the test broker."""
    return TopicAdmin(kafka_settings)


def _slug(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")


@pytest.fixture
def topic_factory(
    request: pytest.FixtureRequest, admin: TopicAdmin
) -> Iterator[Callable[..., str]]:
    """Create uniquely named topics for one test; deleted afterwards."""
    created: list[str] = []

    def make(partitions: int = 1, *, suffix: str = "", config: dict[str, str] | None = None) -> str:
        name = f"test-{_slug(request)}-{uuid.uuid4().hex[:8]}{suffix}"
        admin.ensure(TopicSpec(name, partitions, config=config or {}))
        created.append(name)
        return name

    yield make
    admin.delete_topics(created)


@pytest.fixture
def group_factory(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Unique consumer group ids for one test."""

    def make() -> str:
        return f"test-{_slug(request)}-{uuid.uuid4().hex[:8]}"

    return make
