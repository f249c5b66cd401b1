"""``voicelens report`` (placeholder: being built)."""

from __future__ import annotations

from voicelens.settings import BASE_CONFIG, KafkaSettings

__all__ = ["ReportCommand"]


class ReportCommand(KafkaSettings):
    """Rebuild delivery and data-quality reports from the topics."""

    model_config = BASE_CONFIG

    def cli_cmd(self) -> None:
        raise NotImplementedError
