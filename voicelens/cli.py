"""The ``voicelens`` command line.

Every command is a frozen pydantic-settings model (flags and ``VOICELENS_*`` env vars from one
definition, validated at start-up) with a ``cli_cmd`` method; this module only registers them and
turns errors into a one-line message and an exit code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import BaseSettings, CliApp, CliSubCommand, SettingsError

from voicelens import __version__
from voicelens.consumer.deliver_command import DeliverCommand
from voicelens.consumer.replay_command import ReplayCommand
from voicelens.exceptions import VoicelensError
from voicelens.logs import configure_logging
from voicelens.producer.generate_command import GenerateCommand
from voicelens.producer.produce_command import ProduceCommand
from voicelens.report.command import ReportCommand
from voicelens.schemas.check_command import SchemasCommand
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
        CliApp.run_subcommand(self)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not isinstance(p, int)]
        field = loc[-1] if loc else "?"
        flag = "--" + field.replace("_", "-")
        env = "VOICELENS_" + field.upper()
        lines.append(f"invalid setting {flag} ({env}): {item['msg']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``voicelens`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        print(f"voicelens {__version__}")
        return
    configure_logging()
    try:
        CliApp.run(VoicelensCli, cli_args=args)
    except ValidationError as exc:
        print(f"voicelens: {_describe(exc)}", file=sys.stderr)
        sys.exit(2)
    except SettingsError as exc:
        print(f"voicelens: {exc}", file=sys.stderr)
        sys.exit(2)
    except VoicelensError as exc:
        log.debug("command failed", exc_info=True)
        print(f"voicelens: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
