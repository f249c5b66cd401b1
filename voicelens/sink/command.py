"""``voicelens sink`` (placeholder: being built)."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from voicelens.settings import BASE_CONFIG

__all__ = ["SinkCommand"]


class SinkCommand(BaseSettings):
    """Run a local webhook receiver."""

    model_config = BASE_CONFIG

    def cli_cmd(self) -> None:
        raise NotImplementedError
