"""Where callers live: states, metros and climate zones from ``profiles/regions.toml``.

A customer's metro is drawn once (from the customer's own randomness) with probability
``state.weight x metro.weight / sum of the state's metro weights``, normalised; everything a call
needs about the place (time zone, climate zone, Spanish share, area codes, towns outside the
service area) is flattened into per-metro tuples here, once, so a block of calls only indexes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from voicelens.producer.exceptions import ProfileError

__all__ = ["ClimateZone", "Metro", "Regions", "RegionsFile", "State", "load_regions"]

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Monthly = Annotated[tuple[float, ...], Field(min_length=12, max_length=12)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClimateZone(_Frozen):
    """How a climate zone's HVAC calls vary over the year (January first)."""

    cooling_share: tuple[Unit, ...] = Field(min_length=12, max_length=12)
    season_volume: tuple[Annotated[float, Field(gt=0)], ...] = Field(min_length=12, max_length=12)


class Metro(_Frozen):
    """A metro area the contractor network serves."""

    name: str = Field(min_length=1)
    climate_zone: str = Field(min_length=1)
    time_zone: str = Field(min_length=1)
    weight: Annotated[float, Field(gt=0)]
    area_codes: tuple[Annotated[int, Field(ge=201, le=989)], ...] = Field(min_length=1)
    outside: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=1)


class State(_Frozen):
    """A state's share of customers and of Spanish-speaking callers."""

    weight: Annotated[float, Field(gt=0)]
    spanish_share: Unit
    metros: tuple[Metro, ...] = Field(min_length=1)


class RegionsFile(_Frozen):
    """``regions.toml`` as written."""

    climate_zones: dict[str, ClimateZone] = Field(min_length=1)
    states: dict[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], State] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RegionsFile:
        for code, state in self.states.items():
            for i, metro in enumerate(state.metros):
                if metro.climate_zone not in self.climate_zones:
                    msg = (
                        f"states.{code}.metros.{i}.climate_zone: unknown zone "
                        f"{metro.climate_zone!r} (not in [climate_zones])"
                    )
                    raise ValueError(msg)
                try:
                    ZoneInfo(metro.time_zone)
                except (ZoneInfoNotFoundError, ValueError) as exc:
                    msg = (
                        f"states.{code}.metros.{i}.time_zone: unknown IANA zone {metro.time_zone!r}"
                    )
                    raise ValueError(msg) from exc
        return self


@dataclass(frozen=True)
class Regions:
    """Every metro flattened, with its state's facts, ready for vectorised draws."""

    spec: RegionsFile
    state: tuple[str, ...]
    metro: tuple[Metro, ...]
    zone_names: tuple[str, ...]
    zone_of_metro: npt.NDArray[np.int64]
    spanish_share: npt.NDArray[np.float64]
    metro_weight: npt.NDArray[np.float64]
    cdf: npt.NDArray[np.float64]
    cooling_share: npt.NDArray[np.float64]  # zone x month
    season_volume: npt.NDArray[np.float64]  # zone x month
    tz: tuple[ZoneInfo, ...]
    #: The dict each call carries as ``custom.region``, one per metro (copied per call).
    as_dict: tuple[dict[str, str], ...]

    @classmethod
    def build(cls, spec: RegionsFile) -> Regions:
        """Flatten the file into per-metro arrays."""
        zones = tuple(spec.climate_zones)
        states: list[str] = []
        metros: list[Metro] = []
        weights: list[float] = []
        spanish: list[float] = []
        for code, state in spec.states.items():
            total = sum(m.weight for m in state.metros)
            for metro in state.metros:
                states.append(code)
                metros.append(metro)
                weights.append(state.weight * metro.weight / total)
                spanish.append(state.spanish_share)
        cdf = np.cumsum(weights) / sum(weights)
        cdf[-1] = 1.0
        zone_of = np.array([zones.index(m.climate_zone) for m in metros], dtype=np.int64)
        z = spec.climate_zones
        return cls(
            spec,
            tuple(states),
            tuple(metros),
            zones,
            zone_of,
            np.array(spanish),
            np.array(weights),
            cdf,
            np.array([z[name].cooling_share for name in zones]),
            np.array([z[name].season_volume for name in zones]),
            tuple(ZoneInfo(m.time_zone) for m in metros),
            tuple(
                {
                    "state": s,
                    "metro": m.name,
                    "climate_zone": m.climate_zone,
                    "time_zone": m.time_zone,
                }
                for s, m in zip(states, metros, strict=True)
            ),
        )

    def draw(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Metro index for each uniform."""
        return np.searchsorted(self.cdf, u, side="right").clip(0, len(self.metro) - 1)

    def state_shares(self) -> dict[str, float]:
        """Expected share of customers per state."""
        weights = np.diff(np.concatenate([[0.0], self.cdf]))
        out: dict[str, float] = {}
        for state, w in zip(self.state, weights.tolist(), strict=True):
            out[state] = out.get(state, 0.0) + w
        return out


def load_regions(path: Path) -> Regions:
    """Load and validate ``regions.toml``; errors name the file and the field."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read regions file {path}: {exc.strerror or exc}"
        raise ProfileError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"regions file {path} is not valid TOML: {exc}"
        raise ProfileError(msg) from exc
    try:
        spec = RegionsFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        # A whole-file check names its field itself ("lines.caller.accept[3]: ...").
        text = first["msg"].removeprefix("Value error, ")
        msg = f"regions file {path}: field " + (f"{where}: {text}" if where else text)
        raise ProfileError(msg) from exc
    return Regions.build(spec)
