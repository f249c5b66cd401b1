"""``voicelens schemas check``: may the project's schemas be registered where they are used?

The schema evolution gate: it asks the schema registry whether the current conversation
schema is compatible with the one registered under ``<topic>-value`` (the rule ``produce``
sets there is BACKWARD) and exits non-zero naming each field that breaks it. It changes
nothing in the registry. CI runs it against the local registry (``make test``).
"""

from __future__ import annotations

import sys

from pydantic import Field
from pydantic_settings import BaseSettings, CliApp, CliSubCommand

from voicelens import topics
from voicelens.exceptions import ConfigError
from voicelens.schemas.exceptions import IncompatibleSchemaError
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings, value_subject
from voicelens.settings import BASE_CONFIG, TopicName

__all__ = ["SchemasCheckCommand", "SchemasCommand"]


class SchemasCheckCommand(SchemaRegistrySettings):
    """Check the conversation schema against the registered one; exit 1 naming what breaks."""

    model_config = BASE_CONFIG

    topic: TopicName = Field(
        topics.CONVERSATIONS, description="conversations topic (its subject is <topic>-value)"
    )

    def cli_cmd(self) -> None:
        """Run the check."""
        if self.schema_registry_url is None:
            setting = "--schema-registry-url (VOICELENS_SCHEMA_REGISTRY_URL)"
            raise ConfigError(setting, "required")
        # The project's schemas (fastavro parses them) are loaded when the check runs: every
        # command's start loads this module.
        from voicelens.schemas.registry import load

        subject = value_subject(self.topic)
        with SchemaRegistry(self) as registry:
            if registry.registered(subject) is None:
                print(
                    f"{subject}: not registered in {registry.url}; nothing to check",
                    file=sys.stderr,
                )
                return
            found = registry.breaks(subject, load("conversation").current_json)
        if found:
            raise IncompatibleSchemaError(subject, tuple(found), f"registry {registry.url}")
        print(f"{subject}: the current conversation schema is compatible", file=sys.stderr)


class SchemasCommand(
    BaseSettings,
    cli_kebab_case=True,
    cli_implicit_flags=True,
    cli_enforce_required=False,
):
    """The project's Avro schemas and a schema registry."""

    check: CliSubCommand[SchemasCheckCommand]

    def cli_cmd(self) -> None:
        """Run the chosen subcommand."""
        CliApp.run_subcommand(self)
