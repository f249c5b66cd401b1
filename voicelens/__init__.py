"""VoiceLens Stream: realistic VCP 0.3 call data, delivered through Kafka to webhooks."""

from voicelens.exceptions import ConfigError, VoicelensError

__version__ = "0.1.0"

__all__ = ["ConfigError", "VoicelensError", "__version__"]
