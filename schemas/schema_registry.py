"""A Confluent-compatible schema registry: where conversation schemas get their ids.

``--schema-registry-url`` takes the base URL confluent-kafka's ``SchemaRegistryClient``
expects (Apicurio Registry: ``http://host:8081/apis/ccompat/v7``). ``produce`` registers the
conversation schema under ``<topic>-value`` (the TopicNameStrategy) with BACKWARD
compatibility and writes the Confluent wire format with the id it gets; readers look ids up
here. Every failure is wrapped: :class:`RegistryUnavailableError` when the registry did not
answer, :class:`IncompatibleSchemaError` naming the fields, :class:`RegistryError` otherwise.
The credentials (``basic.auth.user.info``) are a SecretStr and appear in no message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from voicelens.schemas.compatibility import backward_breaks
from voicelens.schemas.exceptions import (
    IncompatibleSchemaError,
    RegistryError,
    RegistryUnavailableError,
)
from voicelens.settings import BASE_CONFIG

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

__all__ = ["COMPATIBILITY", "SchemaRegistry", "SchemaRegistrySettings", "value_subject"]

#: The rule every subject ``produce`` registers gets: new schemas read what old ones wrote.
COMPATIBILITY = "BACKWARD"
_URL_SETTING = "--schema-registry-url / VOICELENS_SCHEMA_REGISTRY_URL"
_AUTH_SETTING = "--schema-registry-basic-auth / VOICELENS_SCHEMA_REGISTRY_BASIC_AUTH"
_SUBJECT_NOT_FOUND = 40401
_SCHEMA_NOT_FOUND = 40403
T = TypeVar("T")


def value_subject(topic: str) -> str:
    """The TopicNameStrategy subject of a topic's values."""
    return f"{topic}-value"


class SchemaRegistrySettings(BaseSettings):
    """Where the schema registry is; unset: single-object encoding, no registry."""

    model_config = BASE_CONFIG

    schema_registry_url: str | None = Field(
        None,
        description=(
            "Confluent-compatible schema registry base URL, e.g. "
            "http://127.0.0.1:8081/apis/ccompat/v7 (Apicurio); unset: no registry"
        ),
    )
    schema_registry_basic_auth: SecretStr | None = Field(
        None, description="user:password for the registry (basic.auth.user.info); never logged"
    )
    schema_registry_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds per schema registry request"
    )

    @field_validator("schema_registry_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Not the value itself: a registry URL may carry a user and password.
            scheme = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
            msg = f"must be an http(s) URL with a host ({scheme})"
            raise ValueError(msg)
        if parts.username is not None or parts.password is not None:
            # Credentials in a URL end up in every message that names the URL.
            msg = "put credentials in --schema-registry-basic-auth, not in the URL"
            raise ValueError(msg)
        return value.strip().rstrip("/")

    @field_validator("schema_registry_basic_auth")
    @classmethod
    def _check_auth(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            msg = "must be user:password"
            raise ValueError(msg)
        return value


class SchemaRegistry:
    """confluent-kafka's registry client, its errors wrapped and the project's rules applied."""

    def __init__(self, settings: SchemaRegistrySettings) -> None:
        if settings.schema_registry_url is None:
            msg = f"{_URL_SETTING} is not set"
            raise RegistryError(msg)
        self.url = settings.schema_registry_url
        conf: dict[str, Any] = {
            "url": self.url,
            "timeout": settings.schema_registry_timeout,
            # The client retries connection errors and 5xx itself; two retries ride out a
            # registry restart without making an unreachable one take long to report.
            "max.retries": 2,
            "retries.wait.ms": 500,
        }
        if settings.schema_registry_basic_auth is not None:
            conf["basic.auth.user.info"] = settings.schema_registry_basic_auth.get_secret_value()
        # The client library (with its HTTP and OAuth stack, ~0.2 s to import) is loaded here,
        # not with this module: every command imports the module, few talk to a registry.
        import httpx2
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        #: What the client raises: the registry's answer, or no answer (httpx2 is its HTTP
        #: library).
        self._failures: tuple[type[Exception], ...] = (
            SchemaRegistryError,
            httpx2.HTTPError,
            OSError,
        )
        self._client: SchemaRegistryClient = SchemaRegistryClient(conf)

    def close(self) -> None:
        """Close the client's connections."""
        self._client.__exit__()

    def __enter__(self) -> SchemaRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, what: str, exc: Exception) -> RegistryError:
        """``exc`` (the client's) as one of ours, naming the setting to look at."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        if isinstance(exc, SchemaRegistryError):
            status = exc.http_status_code
            text = f"{what}: HTTP {status} {exc.error_message}"
            if status in (401, 403):
                refused = f"schema registry at {self.url} refused the credentials"
                return RegistryError(f"{refused} ({_AUTH_SETTING}); {text}")
            if status >= 500 or status < 0:
                return RegistryUnavailableError(
                    f"schema registry at {self.url} failed ({_URL_SETTING}); {text}"
                )
            return RegistryError(f"schema registry at {self.url}: {text}")
        return RegistryUnavailableError(
            f"schema registry at {self.url} unreachable ({_URL_SETTING}); "
            f"{what}: {type(exc).__name__}: {exc}"
        )

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except self._failures as exc:
            raise self._error(what, exc) from exc

    def registered(self, subject: str) -> Any | None:
        """The latest schema registered under ``subject``, as JSON; None for a new subject."""
        try:
            latest = self._client.get_latest_version(subject)
        except self._failures as exc:
            if _error_code(exc) == _SUBJECT_NOT_FOUND:
                return None
            raise self._error(f"latest version of {subject}", exc) from exc
        return json.loads(latest.schema.schema_str or "null")

    def breaks(self, subject: str, schema: Any) -> list[str]:
        """What in ``schema`` (JSON) may not follow the subject's latest version: [] when
        nothing (always for a new subject).

        The registry's compatibility endpoint judges under the subject's rule; the BACKWARD
        rule every VoiceLens subject gets is also checked here, which names the fields and
        holds even where the subject's rule was left at NONE.
        """
        old = self.registered(subject)
        if old is None:
            return []
        candidate = _avro_schema(schema)
        ok = self._call(
            f"compatibility check of {subject}",
            lambda: self._client.test_compatibility(subject, candidate),
        )
        found = backward_breaks(schema, old)
        if ok or found:
            return found
        return [f"{subject}: refused by the registry's compatibility rule for it"]

    def register(self, subject: str, schema: Any) -> int:
        """Register ``schema`` (JSON) under ``subject`` with BACKWARD compatibility; its id.

        Raises :class:`IncompatibleSchemaError` naming the fields, registering nothing, when
        the subject's latest schema holds data the new one cannot read.
        """
        self._call(
            f"setting {COMPATIBILITY} on {subject}",
            lambda: self._client.set_compatibility(subject, COMPATIBILITY),
        )
        found = self.breaks(subject, schema)
        if found:
            raise IncompatibleSchemaError(subject, tuple(found), f"registry {self.url}")
        candidate = _avro_schema(schema)
        try:
            return self._call(
                f"registering {subject}", lambda: self._client.register_schema(subject, candidate)
            )
        except RegistryError as exc:
            from confluent_kafka.schema_registry.error import SchemaRegistryError

            cause = exc.__cause__
            if isinstance(cause, SchemaRegistryError) and cause.http_status_code == 409:
                # Registered in between by someone else, or a rule the check did not see.
                raise IncompatibleSchemaError(subject, (), cause.error_message) from cause
            raise

    def writer_schema(self, schema_id: int) -> Any | None:
        """The parsed Avro schema of ``schema_id``; None when the registry does not know it
        (or it is not an Avro schema)."""
        try:
            found = self._client.get_schema(schema_id)
        except self._failures as exc:
            if _error_code(exc) == _SCHEMA_NOT_FOUND:
                return None
            raise self._error(f"schema id {schema_id}", exc) from exc
        if (found.schema_type or "AVRO") != "AVRO" or not found.schema_str:
            return None
        # Imported here, like the client: every command imports this module, few use a registry.
        from fastavro import parse_schema

        try:
            return parse_schema(json.loads(found.schema_str))
        except Exception as exc:  # fastavro raises several kinds for a schema it cannot parse
            msg = f"schema id {schema_id} in {self.url} is not a valid Avro schema: {exc}"
            raise RegistryError(msg) from exc


def _avro_schema(schema: Any) -> Any:
    """``schema`` (JSON) as the client's ``Schema`` of type AVRO."""
    from confluent_kafka.schema_registry import Schema

    return Schema(json.dumps(schema), "AVRO")


def _error_code(exc: Exception) -> int | None:
    """The registry's error code of one of the client's errors; None for any other error."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    return exc.error_code if isinstance(exc, SchemaRegistryError) else None
