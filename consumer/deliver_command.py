"""``voicelens deliver`` (placeholder: being built)."""

from __future__ import annotations

from voicelens.settings import BASE_CONFIG, KafkaSettings

__all__ = ["DeliverCommand"]


class DeliverCommand(KafkaSettings):
    """Deliver conversations to a webhook."""

    model_config = BASE_CONFIG

    def cli_cmd(self) -> None:
        raise NotImplementedError
