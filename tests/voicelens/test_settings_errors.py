"""A wrong setting stops the command with one line naming the flag and the variable a person
set, never the model's attribute path nor the value (it may be a password)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

URL = "http://127.0.0.1:9/hook"


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")}
    return subprocess.run(
        [sys.executable, "-m", "voicelens", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kafka_config_that_is_not_json_names_its_flag_and_variable() -> None:
    run = _run(["deliver", "--webhook-url", URL], VOICELENS_KAFKA_CONFIG="{not json")
    assert run.returncode == 2
    line = run.stderr.strip()
    assert line.startswith(
        "voicelens: invalid setting --kafka-config (VOICELENS_KAFKA_CONFIG): "
        "VOICELENS_KAFKA_CONFIG is not valid JSON"
    ), line
    assert "--deliver" not in line
    assert "Traceback" not in run.stderr


def test_a_non_string_pass_through_value_names_the_key_not_a_flag_and_hides_the_value() -> None:
    run = _run(
        ["deliver", "--webhook-url", URL],
        VOICELENS_KAFKA_CONFIG='{"sasl.password": 51234}',
    )
    assert run.returncode == 2
    line = run.stderr.strip()
    assert line == (
        "voicelens: invalid setting --kafka-config (VOICELENS_KAFKA_CONFIG), "
        "key 'sasl.password': Input should be a valid string"
    ), line
    assert "51234" not in run.stderr


def test_a_kafka_config_flag_that_cannot_be_parsed_names_the_flag() -> None:
    run = _run(["produce", "--kafka-config", "no-equals-sign"])
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "voicelens: invalid setting --kafka-config (VOICELENS_KAFKA_CONFIG): "
        "the flag's value cannot be parsed (KEY=VALUE or JSON expected)"
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["deliver"], {}, "--webhook-url (VOICELENS_WEBHOOK_URL): Field required"),
        (
            ["deliver", "--webhook-url", URL],
            {"VOICELENS_MAX_RPS": "fast"},
            "--max-rps (VOICELENS_MAX_RPS): Input should be a valid number",
        ),
        (
            ["deliver"],
            {"VOICELENS_WEBHOOK_URL": "ftp://example"},
            "--webhook-url (VOICELENS_WEBHOOK_URL): must be an http(s) URL with a host",
        ),
        (["generate", "--count", "-3"], {}, "--count (VOICELENS_COUNT): Input should be"),
        (
            ["sink", "--error-rate", "0.6", "--hang-rate", "0.6"],
            {},
            "--error-rate (VOICELENS_ERROR_RATE): the fault rates add up to more than 1",
        ),
        (  # a subcommand's subcommand: the setting, not `check`, is named
            ["schemas", "check", "--schema-registry-url", "ftp://registry"],
            {},
            "--schema-registry-url (VOICELENS_SCHEMA_REGISTRY_URL): "
            "must be an http(s) URL with a host (scheme 'ftp')",
        ),
    ],
)
def test_every_wrong_value_names_the_flag_and_the_variable(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    run = _run(args, **env)
    assert run.returncode == 2, run.stderr
    assert f"invalid setting {expected}" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_wrong_registry_url_is_not_repeated() -> None:
    # It may carry a password (refused on its own where the URL is otherwise valid).
    run = _run(["produce"], VOICELENS_SCHEMA_REGISTRY_URL="ftp://user:s3cret-pw@registry")
    assert run.returncode == 2, run.stderr
    assert "invalid setting --schema-registry-url" in run.stderr
    assert "s3cret-pw" not in run.stderr
