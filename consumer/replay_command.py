"""``voicelens replay`` (placeholder: being built)."""

from __future__ import annotations

from voicelens.settings import BASE_CONFIG, KafkaSettings

__all__ = ["ReplayCommand"]


class ReplayCommand(KafkaSettings):
    """Re-publish dead letters to the main topic."""

    model_config = BASE_CONFIG

    def cli_cmd(self) -> None:
        raise NotImplementedError
