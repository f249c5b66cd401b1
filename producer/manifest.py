"""The dataset manifest: everything needed to reproduce a dataset, and what it contains."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from voicelens.producer.generator import Dataset

__all__ = ["ManifestBuilder"]


@dataclass
class ManifestBuilder:
    """Accumulates counts and a checksum while conversations stream past.

    ``add`` takes each conversation and its canonical JSON (compact ``orjson.dumps``) in order;
    the checksum is SHA-256 over them, so a manifest proves which data a dataset consists of,
    whether it was written as files, JSON Lines or Kafka records.
    """

    dataset: Dataset
    scenarios: Counter[str] = field(default_factory=Counter)
    providers: Counter[str] = field(default_factory=Counter)
    days: Counter[str] = field(default_factory=Counter)
    count: int = 0
    _digest: Any = field(default_factory=hashlib.sha256)

    def add(self, conversation: dict[str, Any], data: bytes | None = None) -> None:
        """Count one conversation and feed its canonical JSON (``data``, or computed here when
        the caller has none) to the checksum."""
        if data is None:
            data = orjson.dumps(conversation)
        payload = conversation["vcp_payload"]
        self.scenarios[payload["custom"]["outcome_hint"]] += 1
        self.providers[payload["call"]["provider"]] += 1
        self.days[payload["call"]["start_time"][:10]] += 1
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

    def build(self, *, files: list[str] | None = None) -> dict[str, Any]:
        """The manifest document."""
        ds = self.dataset
        opts = ds.options
        return {
            "dataset_id": ds.dataset_id,
            "generator_version": ds.generator_version,
            "recipe": ds.profile.recipe,
            "parameters": {
                "count": opts.count,
                "start_days_ago": opts.start_days_ago,
                "end_time": ds.window_end.isoformat().replace("+00:00", "Z"),
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
            "window": {
                "start": ds.window_start.isoformat().replace("+00:00", "Z"),
                "end": ds.window_end.isoformat().replace("+00:00", "Z"),
            },
            "count": self.count,
            "counts": {
                "scenario": dict(sorted(self.scenarios.items())),
                "provider": dict(sorted(self.providers.items())),
                "day": dict(sorted(self.days.items())),
            },
            "target_mix": ds.profile.target_mix(),
            "checksum": {"algorithm": "sha256", "value": self._digest.hexdigest()},
            "files": files,
        }
