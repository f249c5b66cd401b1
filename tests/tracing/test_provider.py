"""The tracer comes from the standard OTEL_* variables alone; unset, there is none."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from voicelens.tracing.exceptions import TracingConfigError
from voicelens.tracing.provider import exporter_names, open_tracer, tracing_enabled

_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("exporter", "disabled", "names"),
    [
        (None, None, []),
        ("none", None, []),
        ("  ", None, []),
        ("console", None, ["console"]),
        ("console, otlp", None, ["console", "otlp"]),
        ("console", "true", []),
        ("console", "TRUE", []),
        ("console", "false", ["console"]),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_named_and_the_sdk_is_not_disabled(
    monkeypatch: pytest.MonkeyPatch, exporter: str | None, disabled: str | None, names: list[str]
) -> None:
    if exporter is not None:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)
    if disabled is not None:
        monkeypatch.setenv("OTEL_SDK_DISABLED", disabled)
    assert exporter_names() == names
    assert tracing_enabled() is bool(names)


def test_unset_gives_no_tracer() -> None:
    with open_tracer("deliver") as tracer:
        assert tracer is None


def test_a_named_exporter_gives_a_recording_tracer_named_after_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")  # nothing listens: nothing is sent
    with open_tracer("deliver") as tracer:
        assert tracer is not None
        span = tracer.start_span("x")
        assert span.is_recording()
        assert tracer.resource.attributes["service.name"] == "voicelens-deliver"  # type: ignore[attr-defined]
    monkeypatch.setenv("OTEL_SERVICE_NAME", "calls-east")
    with open_tracer("deliver") as tracer:
        assert tracer is not None
        assert tracer.resource.attributes["service.name"] == "calls-east"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("variables", "named", "says"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER", "'zipkin'"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "use http/protobuf",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "'http/json'",
        ),
    ],
)
def test_what_this_installation_cannot_do_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str, says: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(TracingConfigError) as caught, open_tracer("produce"):
        pass
    assert caught.value.setting == named
    assert says in str(caught.value)


def test_the_command_stops_at_start_up_with_the_variable_named() -> None:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "zipkin"}
    # Nothing answers on port 1: the command must fail on the variable before any Kafka call.
    args = ["replay", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t"]
    done = subprocess.run(
        [sys.executable, "-m", "voicelens", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "invalid setting OTEL_TRACES_EXPORTER: no trace exporter 'zipkin'" in done.stderr
