"""A command's tracer, configured by the standard ``OTEL_*`` variables alone.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names one or more exporters (comma-separated):
``console`` (JSON to standard output), ``otlp`` (OTLP over HTTP/protobuf to
``OTEL_EXPORTER_OTLP_ENDPOINT``, default ``http://localhost:4318``), or any other installed
``opentelemetry_traces_exporter`` entry point. It is off when the variable is unset or
``none``, or when ``OTEL_SDK_DISABLED=true``: then there is no tracer at all, and the commands
choose their untraced code paths once, at start-up.

The rest is the SDK's own reading of the environment: the exporters read their
``OTEL_EXPORTER_OTLP_*`` settings, the resource ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (the service is ``voicelens-<command>`` when neither names one),
the provider ``OTEL_TRACES_SAMPLER``, and the batch processor ``OTEL_BSP_*``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points

from opentelemetry.trace import Tracer

from voicelens import __version__
from voicelens.tracing.exceptions import TracingConfigError

__all__ = ["EXPORTER_GROUP", "exporter_names", "open_tracer", "tracing_enabled"]

#: The entry-point group in which OpenTelemetry packages register their span exporters.
EXPORTER_GROUP = "opentelemetry_traces_exporter"
_EXPORTER = "OTEL_TRACES_EXPORTER"
_PROTOCOLS = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}


def exporter_names() -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names; empty when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    value = os.environ.get(_EXPORTER, "").strip()
    if not value or value.lower() == "none":
        return []
    return [name.strip() for name in value.split(",") if name.strip()]


def tracing_enabled() -> bool:
    """Whether the environment turns tracing on."""
    return bool(exporter_names())


def _otlp_protocol() -> tuple[str, str]:
    """(the variable that chose it, the OTLP protocol): HTTP/protobuf unless one says else."""
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = os.environ.get(variable, "").strip()
        if protocol:
            return variable, protocol
    return "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"


def _exporter_classes(names: list[str]) -> list[type]:
    installed = {ep.name: ep for ep in entry_points(group=EXPORTER_GROUP)}
    classes = []
    for name in names:
        entry, variable = name, _EXPORTER
        if name == "otlp":
            variable, protocol = _otlp_protocol()
            entry = _PROTOCOLS.get(protocol, "")
            if entry not in installed:
                msg = (
                    f"OTLP over {protocol!r} is not available here: use http/protobuf "
                    "(OTLP over gRPC needs opentelemetry-exporter-otlp-proto-grpc installed)"
                )
                raise TracingConfigError(variable, msg)
        found = installed.get(entry)
        if found is None:
            known = ", ".join(sorted({"otlp", *installed}))
            msg = f"no trace exporter {name!r} is installed here (installed: {known}, none)"
            raise TracingConfigError(variable, msg)
        classes.append(found.load())
    return classes


@contextmanager
def open_tracer(role: str) -> Iterator[Tracer | None]:
    """The tracer of command ``role`` for the ``with`` block, or None when tracing is off.

    Spans still queued when the block ends are exported before it returns (the provider's
    shutdown flushes every processor), however the block ends.
    """
    names = exporter_names()
    if not names:
        yield None
        return
    classes = _exporter_classes(names)  # a wrong name stops the command before any work
    # The SDK is imported only here: a command with tracing off never loads it.
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_VERSION: __version__})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"voicelens-{role}"}))
    provider = TracerProvider(resource=resource)
    for exporter in classes:
        provider.add_span_processor(BatchSpanProcessor(exporter()))
    try:
        yield provider.get_tracer("voicelens", __version__)
    finally:
        provider.shutdown()
