"""The scenario profile: catalogue, mix, providers and time patterns, loaded from TOML.

The default profile is ``producer/profiles/hvac.toml``; ``--profile FILE`` swaps it. A bad
profile fails with a :class:`~producer.exceptions.ProfileError` naming the field.
"""

from __future__ import annotations

import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from voicelens.producer.exceptions import ProfileError

__all__ = [
    "DEFAULT_PROFILE",
    "PERIODS",
    "ConversationSpec",
    "Driver",
    "JourneyRule",
    "Profile",
    "ProviderSpec",
    "RoleSpec",
    "ScenarioSpec",
    "SeasonsSpec",
    "data_file",
    "load_profile",
]

DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "hvac.toml"

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Status = Literal["success", "partial", "filtered", "failed"]
GapClass = Literal["aligned", "mild_misalignment", "significant_gap"]
Period = Literal["business", "evening", "night", "weekend"]
PERIODS: tuple[Period, ...] = ("business", "evening", "night", "weekend")
Arc = Literal["improving", "steady", "declining"]
_DEFAULT_ARCS: dict[Arc, float] = {"improving": 0.45, "steady": 0.35, "declining": 0.2}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _ordered_pair(value: tuple[float, float], name: str) -> None:
    if value[0] > value[1]:
        msg = f"{name} must be [low, high] with low <= high, got {list(value)}"
        raise ValueError(msg)


class Driver(_Frozen):
    """A perception-gap driver."""

    type: str = Field(min_length=1)
    weight: Unit
    note: str | None = None


class ScenarioSpec(_Frozen):
    """One scenario of the catalogue."""

    enabled: bool = True
    target_share: Unit
    intent: str = Field(min_length=1)
    capabilities: tuple[str, ...]
    metric: str = Field(min_length=1)
    evidence: str = Field(min_length=1)
    status: Status
    met: bool
    value_usd: tuple[NonNeg, NonNeg]
    duration_sec: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]
    caller_sentiment: tuple[Unit, Unit]
    confidence: tuple[Unit, Unit]
    gap_score: tuple[NonNeg, NonNeg]
    gap_class: GapClass
    drivers: tuple[Driver, ...]
    affinity: dict[
        Literal["business", "evening", "night", "weekend"], Annotated[float, Field(gt=0)]
    ]
    headline: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        for name in ("value_usd", "duration_sec", "caller_sentiment", "confidence", "gap_score"):
            _ordered_pair(getattr(self, name), name)
        missing = [p for p in PERIODS if p not in self.affinity]
        if missing:
            msg = f"affinity needs a factor for every period, missing {missing}"
            raise ValueError(msg)
        return self


class ProviderSpec(_Frozen):
    """A voice-AI provider and its characteristic numbers."""

    share: Unit
    sentiment_model: str = Field(min_length=1)
    first_response_sec: tuple[NonNeg, NonNeg]
    interruption_probability: Unit

    @model_validator(mode="after")
    def _check(self) -> Self:
        _ordered_pair(self.first_response_sec, "first_response_sec")
        return self


class RoleSpec(_Frozen):
    """One role of a full-mode model selection (STT, LLM, TTS or V2V)."""

    chosen: str = Field(min_length=1)
    alternatives: tuple[str, ...] = ()
    reason: tuple[str, ...] = ()


class ConversationSpec(_Frozen):
    """What a call says and where the caller is: the data files and the rates that shape them.

    File paths are relative to the profile's own folder.
    """

    transcripts: bool = True
    #: The call languages generated; the first is every caller's language unless the caller's
    #: state draws Spanish (and ``es-US`` is listed).
    languages: tuple[Annotated[str, Field(pattern=r"^[a-z]{2,3}-[A-Z]{2}$")], ...] = Field(
        ("en-US", "es-US"), min_length=1
    )
    dialogue: dict[str, str] = Field(
        default_factory=lambda: {"en-US": "dialogue/en.toml", "es-US": "dialogue/es.toml"}
    )
    scripts: str = "dialogue/scripts.toml"
    regions: str = "regions.toml"
    #: Share of caller turns carrying ASR-style noise (a filler, a false start).
    asr_noise_rate: Unit = 0.12
    #: Share of Spanish calls with one caller turn switched to English.
    code_switch_rate: Unit = 0.35
    #: Share of Spanish calls the agent greets in English before switching to Spanish.
    english_greeting_rate: Unit = 0.4
    #: Sentiment arcs (start -> end of the call) and their shares.
    arcs: dict[Arc, NonNeg] = Field(default_factory=lambda: dict(_DEFAULT_ARCS))

    @model_validator(mode="after")
    def _check(self) -> Self:
        missing = [lang for lang in self.languages if lang not in self.dialogue]
        if missing:
            msg = f"languages: no dialogue file for {missing} (add it under dialogue)"
            raise ValueError(msg)
        if sum(self.arcs.values()) <= 0:
            msg = "arcs: the shares must not be all zero"
            raise ValueError(msg)
        return self


class JourneyRule(_Frozen):
    """A call that is followed by another call of the same customer."""

    #: Share of this scenario's calls that get a follow-up.
    probability: Unit = 1.0
    #: Scenarios the follow-up call may be.
    followers: tuple[str, ...] = Field(min_length=1)
    #: When the follow-up may happen (the contractor's periods; callbacks come in working hours).
    periods: tuple[Period, ...] = PERIODS
    #: The follow-up is the first fitting call at least this long after the trigger (drawn).
    delay_hours: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]
    #: No fitting call within this many days: no follow-up.
    max_wait_days: Annotated[float, Field(gt=0)] = 14.0

    @model_validator(mode="after")
    def _check(self) -> Self:
        _ordered_pair(self.delay_hours, "delay_hours")
        return self


class SeasonsSpec(_Frozen):
    """Seeded weather events per climate zone (seasonal volume itself is in regions.toml)."""

    #: Expected heat waves per year in each zone's cooling months (and cold snaps in heating
    #: months); the count in a window is Poisson.
    heat_waves_per_year: NonNeg = 3.0
    cold_snaps_per_year: NonNeg = 3.0
    event_days: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (3, 7)
    #: How much a zone's volume multiplies during an event.
    event_volume: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (1.5, 2.5)
    #: Scenarios whose share multiplies during an event (in the metros it strikes).
    event_scenarios: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"emergency_service": 2.5}
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        _ordered_pair(self.event_days, "event_days")
        _ordered_pair(self.event_volume, "event_volume")
        return self


class Periods(_Frozen):
    """Local-hour ranges [start, end) of the weekday periods; ``night`` may wrap midnight."""

    business: tuple[int, int]
    evening: tuple[int, int]
    night: tuple[int, int]


class Profile(_Frozen):
    """A whole generation profile."""

    recipe: str = Field(min_length=1)
    utc_offset_hours: Annotated[int, Field(ge=-12, le=14)] = 0
    weekend_volume: Annotated[float, Field(gt=0)]
    hourly_volume: tuple[NonNeg, ...] = Field(min_length=24, max_length=24)
    periods: Periods
    providers: dict[str, ProviderSpec] = Field(min_length=1)
    scenarios: dict[str, ScenarioSpec] = Field(min_length=1)
    model_selection: dict[str, dict[Literal["V2V", "LLM", "STT", "TTS"], RoleSpec]] = Field(
        default_factory=dict
    )
    conversation: ConversationSpec = Field(default_factory=ConversationSpec)
    journeys: dict[str, JourneyRule] = Field(default_factory=dict)
    seasons: SeasonsSpec = Field(default_factory=SeasonsSpec)

    @model_validator(mode="after")
    def _check_shares(self) -> Self:
        enabled = self.enabled_scenarios
        if not enabled:
            msg = "at least one scenario must be enabled"
            raise ValueError(msg)
        total = sum(s.target_share for s in enabled.values())
        if abs(total - 1.0) > 0.01:
            msg = f"target_share of the enabled scenarios must sum to 1, got {total:.4f}"
            raise ValueError(msg)
        ptotal = sum(p.share for p in self.providers.values())
        if abs(ptotal - 1.0) > 0.01:
            msg = f"providers' share must sum to 1, got {ptotal:.4f}"
            raise ValueError(msg)
        if sum(self.hourly_volume) <= 0:
            msg = "hourly_volume must not be all zero"
            raise ValueError(msg)
        for trigger, rule in self.journeys.items():
            unknown = [s for s in (trigger, *rule.followers) if s not in self.scenarios]
            if unknown:
                msg = f"journeys.{trigger}: unknown scenario {unknown[0]!r}"
                raise ValueError(msg)
        return self

    @cached_property
    def enabled_scenarios(self) -> dict[str, ScenarioSpec]:
        """The scenarios that are generated, in catalogue order."""
        return {name: s for name, s in self.scenarios.items() if s.enabled}

    def target_mix(self) -> dict[str, float]:
        """Scenario -> expected overall share (normalised), for goodness-of-fit checks."""
        enabled = self.enabled_scenarios
        total = sum(s.target_share for s in enabled.values())
        return {name: s.target_share / total for name, s in enabled.items()}

    def period_of(self, hour: int, weekend: bool) -> Period:
        """The period a local hour falls in (weekends are one period)."""
        if weekend:
            return "weekend"
        for name in ("business", "evening"):
            start, end = getattr(self.periods, name)
            if start <= hour < end:
                return name
        return "night"


def load_profile(path: Path | None = None) -> Profile:
    """Load and validate a profile; errors name the file and the offending field."""
    source = path or DEFAULT_PROFILE
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read profile {source}: {exc.strerror or exc}"
        raise ProfileError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"profile {source} is not valid TOML: {exc}"
        raise ProfileError(msg) from exc
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = f"profile {source}: field {field}: {first['msg']}"
        raise ProfileError(msg) from exc


def data_file(profile_path: Path | None, name: str) -> Path:
    """A data file a profile names: beside the profile, else the packaged one of that name.

    A custom profile can so change the scenario mix and keep the packaged dialogue and regions.
    """
    own = (profile_path or DEFAULT_PROFILE).parent / name
    if profile_path is None or own.exists():
        return own
    return DEFAULT_PROFILE.parent / name
