"""The ``voicelens`` command tree: every subcommand registered on one pydantic-settings model.

Loading it loads every command's settings model (pydantic-settings and the models: ~0.4 s,
bench/README.md, "Start-up"), not what runs the commands: each command imports its own
libraries when it runs. Even so, :mod:`voicelens.cli`, the console script's module, loads it
only when a command runs.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, CliApp, CliSubCommand, get_subcommand

from voicelens.consumer.deliver_command import DeliverCommand
from voicelens.consumer.replay_command import ReplayCommand
from voicelens.logs import configure_logging
from voicelens.producer.generate_command import GenerateCommand
from voicelens.producer.produce_command import ProduceCommand
from voicelens.report.command import ReportCommand
from voicelens.schemas.check_command import SchemasCommand
from voicelens.settings import LogSettings
from voicelens.sink.command import SinkCommand

__all__ = ["VoicelensCli"]


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
