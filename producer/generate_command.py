"""``voicelens generate`` (placeholder: being built)."""

from __future__ import annotations

from voicelens.settings import BASE_CONFIG, KafkaSettings

__all__ = ["GenerateCommand"]


class GenerateCommand(KafkaSettings):
    """Generate VCP 0.3 conversations to files."""

    model_config = BASE_CONFIG

    def cli_cmd(self) -> None:
        raise NotImplementedError
