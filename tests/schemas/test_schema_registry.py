"""The schema registry client and `voicelens schemas check` against the real Apicurio Registry."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from delivery_support import free_port

from voicelens.schemas.exceptions import IncompatibleSchemaError, RegistryUnavailableError
from voicelens.schemas.registry import load
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings
from voicelens.settings import BASE_CONFIG

pytestmark = pytest.mark.registry
SECRET = "registry-user:Pa55-not-for-logs"


def _topic() -> str:
    return f"test-registry-{uuid.uuid4().hex[:10]}"


def _without_generator_version() -> dict[str, Any]:
    """An older conversation schema: the current one then has a field it cannot default."""
    old = copy.deepcopy(load("conversation").current_json)
    old["fields"] = [f for f in old["fields"] if f["name"] != "generator_version"]
    return old


def _check(url: str, topic: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "voicelens", "schemas", "check", "--topic", topic]
    return subprocess.run(
        [*cmd, "--schema-registry-url", url, *extra],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"VOICELENS_LOG_LEVEL": "DEBUG", "PATH": "/usr/bin:/bin"},
    )


def test_register_sets_backward_and_returns_the_id_readers_find(schema_registry_url: str) -> None:
    subject = f"{_topic()}-value"
    with SchemaRegistry(SchemaRegistrySettings(schema_registry_url=schema_registry_url)) as reg:
        schema_id = reg.register(subject, load("conversation").current_json)
        assert reg.register(subject, load("conversation").current_json) == schema_id
        assert reg.writer_schema(schema_id) is not None
        assert reg.writer_schema(2_000_000_000) is None
    with SchemaRegistryClient({"url": schema_registry_url}) as client:
        assert client.get_compatibility(subject) == "BACKWARD"
        assert client.get_latest_version(subject).schema_id == schema_id


def test_an_incompatible_schema_is_refused_naming_the_field(schema_registry_url: str) -> None:
    topic = _topic()
    old = Schema(json.dumps(_without_generator_version()), "AVRO")
    settings = SchemaRegistrySettings(schema_registry_url=schema_registry_url)
    with SchemaRegistryClient({"url": schema_registry_url}) as client:
        client.register_schema(f"{topic}-value", old)
        with SchemaRegistry(settings) as reg, pytest.raises(IncompatibleSchemaError) as caught:
            reg.register(f"{topic}-value", load("conversation").current_json)
        assert len(client.get_versions(f"{topic}-value")) == 1  # nothing registered
    assert caught.value.fields == ("ConversationEvent.generator_version: added without a default",)

    refused = _check(schema_registry_url, topic)
    assert refused.returncode == 1, refused.stderr
    assert "ConversationEvent.generator_version: added without a default" in refused.stderr


def test_schemas_check_passes_for_a_compatible_or_new_subject(schema_registry_url: str) -> None:
    topic = _topic()
    fresh = _check(schema_registry_url, topic, "--schema-registry-basic-auth", SECRET)
    assert fresh.returncode == 0, fresh.stderr
    assert "not registered" in fresh.stderr
    with SchemaRegistry(SchemaRegistrySettings(schema_registry_url=schema_registry_url)) as reg:
        reg.register(f"{topic}-value", load("conversation").current_json)
    same = _check(schema_registry_url, topic, "--schema-registry-basic-auth", SECRET)
    assert same.returncode == 0, same.stderr
    assert "is compatible" in same.stderr
    assert SECRET.split(":")[1] not in same.stderr + same.stdout + fresh.stderr + fresh.stdout


def test_an_unreachable_registry_is_a_clear_retriable_error_without_the_secret() -> None:
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    settings = SchemaRegistrySettings(schema_registry_url=url, schema_registry_basic_auth=SECRET)
    with SchemaRegistry(settings) as reg, pytest.raises(RegistryUnavailableError) as caught:
        reg.register("x-value", load("conversation").current_json)
    assert caught.value.retriable
    assert "VOICELENS_SCHEMA_REGISTRY_URL" in str(caught.value)
    done = _check(url, "x", "--schema-registry-basic-auth", SECRET)
    assert done.returncode == 1
    assert "unreachable" in done.stderr
    assert "VOICELENS_SCHEMA_REGISTRY_URL" in done.stderr
    assert SECRET.split(":")[1] not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ftp://registry:8081", r"must be an http\(s\) URL with a host \(scheme 'ftp'\)"),
        ("http://user:pw@registry:8081/apis/ccompat/v7", "not in the URL"),
    ],
)
def test_bad_registry_urls_are_refused_at_start_up(value: str, problem: str) -> None:
    class Settings(SchemaRegistrySettings):
        model_config = BASE_CONFIG

    with pytest.raises(ValueError, match=problem):
        Settings(schema_registry_url=value)
    with pytest.raises(ValueError, match="user:password"):
        Settings(schema_registry_basic_auth="no-colon")
