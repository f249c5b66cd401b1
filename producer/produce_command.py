"""``voicelens produce`` (placeholder: being built)."""

from __future__ import annotations

from voicelens.settings import BASE_CONFIG, KafkaSettings

__all__ = ["ProduceCommand"]


class ProduceCommand(KafkaSettings):
    """Generate conversations and publish them to Kafka."""

    model_config = BASE_CONFIG

    def cli_cmd(self) -> None:
        raise NotImplementedError
