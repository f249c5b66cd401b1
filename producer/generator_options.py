"""What defines a dataset: the generator's settings, shared by ``generate`` and ``produce``.

``Dataset.from_options`` (:mod:`voicelens.producer.generator`) turns them into a dataset. They
are a module of their own because every command's start builds the whole command tree
(:mod:`voicelens.commands`), and with it this model, while the generator (numpy, the profile's
catalogues, the transcript builder: ~0.2 s to import) is loaded only by a command that
generates. So this module imports pydantic and the project's settings, nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from voicelens.settings import BASE_CONFIG

__all__ = ["GeneratorOptions"]

#: One BCP 47 language-region tag (``en-US``), or several comma-separated.
_LANGUAGE_TAG = r"^[a-z]{2,3}-[A-Z]{2}(,[a-z]{2,3}-[A-Z]{2})*$"


class GeneratorOptions(BaseSettings):
    """What defines a dataset. Shared by ``voicelens generate`` and ``voicelens produce``."""

    model_config = BASE_CONFIG

    count: int = Field(1800, gt=0, description="number of conversations")
    start_days_ago: int = Field(
        60, gt=0, description="the window starts this many days before its end"
    )
    end_time: datetime | None = Field(
        None, description="end of the window (ISO 8601); default now, recorded in the manifest"
    )
    seed: int = Field(42, description="random seed: same seed and parameters, same data")
    provider: Literal["all", "retell", "vapi", "bland"] = Field(
        "all", description="voice-AI provider"
    )
    vcp_mode: Literal["gtm", "full"] = Field(
        "gtm", description="gtm, or full (adds model_selection and hcr)"
    )
    profile: Path | None = Field(
        None, description="scenario profile TOML (default: packaged HVAC profile)"
    )
    transcripts: bool | None = Field(
        None, description="turn-by-turn transcripts in custom.transcript (default: the profile's)"
    )
    languages: str | None = Field(
        None,
        pattern=_LANGUAGE_TAG,
        description="call languages, comma-separated BCP 47 tags, e.g. en-US,es-US "
        "(default: the profile's); the first is the language of callers who do not draw another",
    )

    @field_validator("end_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
