"""The dataset manifest: what a dataset is (how to reproduce it, or where it came from) and what
it contains: counts per scenario, provider and day, and a checksum.

One builder for every dataset, generated or read from files, written as files or published:
``add`` takes each conversation (in its canonical form, see :mod:`voicelens.schemas.canonical`)
and its compact JSON in order; the checksum is SHA-256 over that JSON, so a manifest proves
which data a dataset consists of, whether it was written as files, JSON Lines or Kafka records.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from voicelens.producer.generator import Dataset

__all__ = ["COMPUTED_KEYS", "ManifestBuilder", "describe_dataset"]

#: The keys the builder computes; every other key of a manifest describes the dataset.
COMPUTED_KEYS = ("count", "counts", "checksum")


def _iso(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def describe_dataset(ds: Dataset) -> dict[str, Any]:
    """A generated dataset's identity: its recipe and parameters, enough to regenerate it."""
    opts = ds.options
    return {
        "dataset_id": ds.dataset_id,
        "generator_version": ds.generator_version,
        "recipe": ds.profile.recipe,
        "parameters": {
            "count": opts.count,
            "start_days_ago": opts.start_days_ago,
            "end_time": _iso(ds.window_end),
            "seed": opts.seed,
            "provider": opts.provider,
            "vcp_mode": opts.vcp_mode,
            "profile": str(opts.profile) if opts.profile else None,
            "transcripts": ds.transcripts,
            "languages": list(ds.languages),
        },
        "weather_events": [
            {
                "kind": e.kind,
                "climate_zone": e.zone,
                "first_day": (ds.window_start + timedelta(days=e.first_day)).date().isoformat(),
                "days": e.days,
                "volume": e.volume,
            }
            for e in ds.weather_events
        ],
        "window": {"start": _iso(ds.window_start), "end": _iso(ds.window_end)},
        "target_mix": ds.profile.target_mix(),
        "files": None,  # the file names, when written as files (``voicelens generate``)
    }


@dataclass
class ManifestBuilder:
    """Accumulates counts and a checksum while conversations stream past."""

    #: What the dataset is (``dataset_id`` first); the manifest is this plus the computed keys.
    description: dict[str, Any]
    scenarios: Counter[str] = field(default_factory=Counter)
    providers: Counter[str] = field(default_factory=Counter)
    days: Counter[str] = field(default_factory=Counter)
    count: int = 0
    _digest: Any = field(default_factory=hashlib.sha256)

    @classmethod
    def for_dataset(cls, ds: Dataset) -> ManifestBuilder:
        """A builder for a generated dataset."""
        return cls(describe_dataset(ds))

    def add(self, conversation: dict[str, Any], data: bytes | None = None) -> None:
        """Count one canonical conversation and feed its compact JSON (``data``, or computed
        here when the caller has none) to the checksum."""
        if data is None:
            data = orjson.dumps(conversation)
        payload = conversation["vcp_payload"]
        call = payload["call"]
        # Files of the user's may lack the generator's hint; the schema allows that.
        self.scenarios[payload["custom"].get("outcome_hint", "unknown")] += 1
        self.providers[call["provider"]] += 1
        self.days[call["start_time"][:10]] += 1
        self.count += 1
        self._digest.update(data)

    def add_block(self, mix: list[tuple[str, str]], days: Counter[str], data: bytes) -> None:
        """Count a block encoded elsewhere: each record's (scenario, provider), the block's
        days, and its records' canonical JSON concatenated in order (the same checksum input
        as calling :meth:`add` on each)."""
        self.scenarios.update(scenario for scenario, _ in mix)
        self.providers.update(provider for _, provider in mix)
        self.days.update(days)
        self.count += len(mix)
        self._digest.update(data)

    def build(self, **more: Any) -> dict[str, Any]:
        """The manifest document: the description, the computed keys, then ``more``."""
        return {
            **self.description,
            "count": self.count,
            "counts": {
                "scenario": dict(sorted(self.scenarios.items())),
                "provider": dict(sorted(self.providers.items())),
                "day": dict(sorted(self.days.items())),
            },
            "checksum": {"algorithm": "sha256", "value": self._digest.hexdigest()},
            **more,
        }
