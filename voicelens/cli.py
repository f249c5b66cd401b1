"""The ``voicelens`` command line.

Every command is a frozen pydantic-settings model (flags and ``VOICELENS_*`` env vars from one
definition, validated at start-up) with a ``cli_cmd`` method; this module only registers them and
turns errors into a one-line message and an exit code.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import BaseSettings, CliApp, CliSubCommand, SettingsError, get_subcommand

from voicelens import __version__
from voicelens.consumer.deliver_command import DeliverCommand
from voicelens.consumer.replay_command import ReplayCommand
from voicelens.exceptions import VoicelensError
from voicelens.logs import configure_logging
from voicelens.producer.generate_command import GenerateCommand
from voicelens.producer.produce_command import ProduceCommand
from voicelens.report.command import ReportCommand
from voicelens.schemas.check_command import SchemasCommand
from voicelens.settings import ENV_PREFIX, LogSettings, setting_label
from voicelens.sink.command import SinkCommand

__all__ = ["VoicelensCli", "main"]

log = logging.getLogger("voicelens")


class VoicelensCli(
    BaseSettings,
    cli_prog_name="voicelens",
    cli_kebab_case=True,
    cli_implicit_flags=True,
    cli_enforce_required=False,
):
    """Generate VCP 0.3 call data and deliver it through Kafka to webhooks."""

    generate: CliSubCommand[GenerateCommand]
    produce: CliSubCommand[ProduceCommand]
    deliver: CliSubCommand[DeliverCommand]
    replay: CliSubCommand[ReplayCommand]
    sink: CliSubCommand[SinkCommand]
    report: CliSubCommand[ReportCommand]
    schemas: CliSubCommand[SchemasCommand]

    def cli_cmd(self) -> None:
        command = get_subcommand(self)
        if isinstance(command, LogSettings):
            configure_logging(command.log_level, command.log_format)
        CliApp.run_subcommand(self)


_SOURCE_ERROR = re.compile(r'(?:field "|encountered for )(?:\w+\.)?(\w+)')


def _describe(error: ValidationError) -> str:
    """One line per problem, naming the setting's flag and variable (never its value)."""
    lines = []
    for item in error.errors():
        path = list(item["loc"])
        if path and path[0] in VoicelensCli.model_fields:
            path = path[1:]  # the subcommand
        cause = (item.get("ctx") or {}).get("error")
        if not path and isinstance(cause, SettingsError):
            # A source (the environment, say) could not parse a value before validation.
            lines.append(_describe_source_error(cause))
            continue
        label = setting_label(str(path[0])) if path else "?"
        where = "".join(
            f", item {part}" if isinstance(part, int) else f", key {part!r}" for part in path[1:]
        )
        lines.append(f"invalid setting {label}{where}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


#: Secrets that must not be flags: a command line is visible to every user of the host (``ps``,
#: /proc) and lands in shell histories. Each names the safer channels.
SECRET_FLAGS = {
    "--signing-secret": "VOICELENS_SIGNING_SECRET or --signing-secret-file",
    "--oauth-client-secret": "VOICELENS_OAUTH_CLIENT_SECRET or --oauth-client-secret-file",
}


def _secret_flag(args: Sequence[str]) -> str | None:
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in SECRET_FLAGS:
            return name
    return None


def _describe_source_error(exc: SettingsError) -> str:
    """A value the environment or the command line could not parse, named as the person set it.

    pydantic-settings names the field by its attribute (``error parsing value for field
    "kafka_config" from source "EnvSettingsSource"``, ``Parsing error encountered for
    deliver.kafka_config: ...``); the person typed a flag or a variable.
    """
    text = str(exc)
    match = _SOURCE_ERROR.search(text)
    if match is None:
        return text
    field = match.group(1)
    if "EnvSettingsSource" in text:
        problem = f"{ENV_PREFIX}{field.upper()} is not valid JSON"
        if exc.__cause__ is not None:
            problem += f": {exc.__cause__}"
    else:
        problem = "the flag's value cannot be parsed (KEY=VALUE or JSON expected)"
    return f"invalid setting {setting_label(field)}: {problem}"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``voicelens`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        print(f"voicelens {__version__}")
        return
    flag = _secret_flag(args)
    if flag is not None:
        print(
            f"voicelens: {flag} is a secret and is refused on the command line, where other "
            f"users of the host can read it; use {SECRET_FLAGS[flag]}",
            file=sys.stderr,
        )
        sys.exit(2)
    configure_logging()
    try:
        CliApp.run(VoicelensCli, cli_args=args)
    except ValidationError as exc:
        print(f"voicelens: {_describe(exc)}", file=sys.stderr)
        sys.exit(2)
    except SettingsError as exc:
        print(f"voicelens: {_describe_source_error(exc)}", file=sys.stderr)
        sys.exit(2)
    except VoicelensError as exc:
        log.debug("command failed", exc_info=True)
        print(f"voicelens: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
