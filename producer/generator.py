"""Deterministic, realistic VCP 0.3 conversations.

``Dataset.from_options(options)`` resolves the window once; ``conversation(k)`` and
``conversations(start, stop)`` then yield exactly the same JSON objects for the same
(seed, parameters, window, k), whichever process asks and in whatever order.

Key sets are fixed per mode: every optional field is always present (``null`` where empty), so
JSON -> Avro -> JSON round-trips exactly. Numbers are rounded the way the user's examples show
them: scores to 2 decimals, first response to 1, money to whole dollars (as floats).
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from voicelens.producer.exceptions import ProfileError
from voicelens.producer.generator_options import GeneratorOptions
from voicelens.producer.journeys import JourneyPlan, plan_journeys
from voicelens.producer.profile import PERIODS, Profile, data_file, load_profile
from voicelens.producer.regions import Regions
from voicelens.producer.rng import seed_key, uniforms, words
from voicelens.producer.seasons import Seasons, WeatherEvent
from voicelens.producer.timeline import Timeline, affinity_matrix, calibrate_weights, period_cdfs
from voicelens.producer.transcript import ConversationBuilder
from voicelens.producer.vcp import PayloadBuilder

# GeneratorOptions is defined apart (no numpy there: every command's start loads it) and
# exported here too, next to Dataset.from_options, which takes it.
__all__ = ["GENERATOR_VERSION", "Dataset", "GeneratorOptions", "dataset_seasons"]

GENERATOR_VERSION = "voicelens-generator/2.0"
BLOCK = 2048
PROVIDERS = ("retell", "vapi", "bland")
# Random fields per record, by position (documented once, used by the block builder).
_FIELDS = 16
_PLAN_SALT = 0x9A7
_SEASON_SALT = 0x5EA5
#: The uniform field that draws a record's metro.
_METRO = 10
#: Records whose times and scenarios are computed at once while planning journeys.
_PLAN_CHUNK = 65_536


@dataclass
class Dataset:
    """A resolved dataset definition; cheap to generate any index range of."""

    options: GeneratorOptions
    profile: Profile
    window_start: datetime
    window_end: datetime
    dataset_id: str
    generator_version: str = GENERATOR_VERSION
    transcripts: bool = field(init=False)
    languages: tuple[str, ...] = field(init=False)
    _key: int = field(init=False, repr=False)
    _timeline: Timeline = field(init=False, repr=False)
    _scenario_cdfs: Any = field(init=False, repr=False)
    _builder: PayloadBuilder = field(init=False, repr=False)
    _words: ConversationBuilder = field(init=False, repr=False)
    _seasons: Seasons = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._key = seed_key(self.dataset_id, self.options.seed)
        self._builder = PayloadBuilder(self.profile, self.options.vcp_mode)
        transcripts, languages = _conversation_choices(self.options, self.profile)
        self.transcripts, self.languages = transcripts, languages
        try:
            self._words = ConversationBuilder(
                self.profile,
                self.options.profile,
                names=self._builder.names,
                specs=self._builder.specs,
                transcripts=transcripts,
                languages=languages,
                key=self._key,
                end_s=int(self.window_end.timestamp()),
            )
        except ValueError as exc:
            raise ProfileError(str(exc)) from exc
        self._seasons = dataset_seasons(
            self.profile, self._words.regions, self.window_start, self.window_end, self._key
        )
        self._timeline = Timeline.build(
            self.profile, self.window_start, self.window_end, self._seasons.hourly_factor
        )
        # Shaping columns: the four periods, then the same periods in metros a weather event
        # strikes; their volume shares come from the timeline and the days' event shares.
        volume = np.diff(np.concatenate(([0.0], self._timeline.cdf)))
        hour_event = self._seasons.event_share[
            self._seasons.day_of(self._timeline.start_s + np.arange(self._timeline.hours) * 3600)
        ]
        periods = len(self._timeline.period_share)
        share = np.bincount(
            self._timeline.period_of_hour, weights=volume * (1 - hour_event), minlength=periods
        )
        share = np.concatenate(
            [
                share,
                np.bincount(
                    self._timeline.period_of_hour, weights=volume * hour_event, minlength=periods
                ),
            ]
        )
        affinity = affinity_matrix(self.profile)
        weights = calibrate_weights(self.profile, share.astype(np.float64), affinity)
        self._scenario_cdfs = period_cdfs(self.profile, weights, affinity)

    @classmethod
    def from_options(cls, options: GeneratorOptions, *, now: datetime | None = None) -> Dataset:
        """Resolve the window (``end_time`` or now, to the second) and the dataset id."""
        profile = load_profile(options.profile)
        transcripts, languages = _conversation_choices(options, profile)
        end = options.end_time or (now or datetime.now(UTC))
        end = end.astimezone(UTC).replace(microsecond=0)
        start = end - timedelta(days=options.start_days_ago)
        profile_digest = hashlib.sha256(
            orjson.dumps(profile.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()[:16]
        identity = orjson.dumps(
            {
                "count": options.count,
                "seed": options.seed,
                "provider": options.provider,
                "vcp_mode": options.vcp_mode,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
                "profile": profile_digest,
                "data_files": _data_digest(options.profile, profile),
                "transcripts": transcripts,
                "languages": list(languages),
                "generator": GENERATOR_VERSION,
            },
            option=orjson.OPT_SORT_KEYS,
        )
        dataset_id = "ds-" + hashlib.sha256(identity).hexdigest()[:16]
        return cls(options, profile, start, end, dataset_id)

    @property
    def weather_events(self) -> tuple[WeatherEvent, ...]:
        """The dataset's seeded heat waves and cold snaps (day indices from the window start)."""
        return self._seasons.events

    @property
    def count(self) -> int:
        """Number of conversations in the dataset."""
        return self.options.count

    def conversation(self, index: int) -> dict[str, Any]:
        """Conversation ``index`` (0-based)."""
        if not 0 <= index < self.count:
            msg = f"index {index} outside dataset of {self.count}"
            raise IndexError(msg)
        return next(self.conversations(index, index + 1))

    def conversations(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Conversations ``start`` .. ``stop - 1`` in index order."""
        stop = self.count if stop is None else min(stop, self.count)
        for block_start in range(start, stop, BLOCK):
            # A temporary, not a local: the block is freed before the next one is built.
            yield from self._paused_block(block_start, min(block_start + BLOCK, stop))

    def _paused_block(self, start: int, stop: int) -> list[dict[str, Any]]:
        with _collector_paused():
            return self._block(start, stop)

    def _when_and_what(self, u: npt.NDArray[np.float64]) -> Any:
        """Start times, periods, scenarios and metros (as drawn) of records with uniforms ``u``.

        Each record's time is its own draw from the whole window's intensity. The metro is
        drawn from the mix of that day; a journey's later calls use the first call's metro.
        """
        seconds, period = self._timeline.locate(u[:, 0])
        metro = self._seasons.metro(seconds, u[:, _METRO])
        column = period + len(PERIODS) * self._seasons.event[self._seasons.day_of(seconds), metro]
        scenario = (u[:, 1][:, None] > self._scenario_cdfs[column]).sum(axis=1)
        return seconds, period, scenario, metro

    @cached_property
    def journeys(self) -> JourneyPlan:
        """The dataset's journey links, computed once per process from the seed."""
        parts = []
        for first in range(0, self.count, _PLAN_CHUNK):
            idx = np.arange(first, min(first + _PLAN_CHUNK, self.count), dtype=np.int64)
            parts.append(self._when_and_what(uniforms(self._key, idx, _METRO + 1)))
        seconds, period, scenario, _ = (np.concatenate(p) for p in zip(*parts, strict=True))
        everyone = np.arange(self.count, dtype=np.int64)
        return plan_journeys(
            times=seconds,
            scenario=scenario,
            period=period,
            names=self._builder.names,
            rules=dict(self.profile.journeys),
            u=uniforms(self._key ^ _PLAN_SALT, everyone, 2),
        )

    def _block(self, start: int, stop: int) -> list[dict[str, Any]]:
        idx = np.arange(start, stop, dtype=np.int64)
        u = uniforms(self._key, idx, _FIELDS)
        ids = words(self._key ^ 0x5EED, idx, 2)
        seconds, _, scenario, own_metro = self._when_and_what(u)
        plan = self.journeys
        root = plan.root[idx]
        later = root != idx
        metro = own_metro.copy()
        if later.any():
            metro[later] = self._when_and_what(uniforms(self._key, root[later], _METRO + 1))[3]
        if self.options.provider == "all":
            shares = np.cumsum([self.profile.providers[p].share for p in PROVIDERS])
            provider = np.searchsorted(shares / shares[-1], u[:, 2], side="right").clip(0, 2)
        else:
            provider = np.full(len(idx), PROVIDERS.index(self.options.provider))
        return self._builder.build(
            ids=ids,
            start_s=seconds.tolist(),
            scenario=scenario.tolist(),
            provider=provider.tolist(),
            u=u,
            index=idx,
            conversation=lambda block: self._words.block(block, plan, metro),
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a block is built, and none of the block scanned after.

    A block allocates a few hundred thousand acyclic dicts, lists and strings. The collector
    would otherwise run every 700 allocations and, as they survive, rescan them and everything
    the process imported. Nothing built here forms a cycle. Re-enabled with the block still
    counted as young, the collector's next pass would traverse the whole block once more (~9 %
    of generating, bench/README.md): so the block is first moved to the oldest generation
    (``gc.freeze()`` then ``gc.unfreeze()``, two list splices that also zero the young count).
    Nothing stays frozen: cyclic garbage there is found by the next full collection. Where the
    host process froze objects of its own, unfreezing would undo that, so then the block is
    left to the collector.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _conversation_choices(
    options: GeneratorOptions, profile: Profile
) -> tuple[bool, tuple[str, ...]]:
    """Transcripts on or off and the languages: the options' when given, else the profile's."""
    spec = profile.conversation
    transcripts = spec.transcripts if options.transcripts is None else options.transcripts
    languages = spec.languages if options.languages is None else tuple(options.languages.split(","))
    unknown = [lang for lang in languages if lang not in spec.dialogue]
    if unknown:
        msg = (
            f"--languages / VOICELENS_LANGUAGES: no dialogue for {', '.join(unknown)} "
            f"(the profile has {', '.join(spec.dialogue)})"
        )
        raise ProfileError(msg)
    return transcripts, languages


def _data_digest(path: Path | None, profile: Profile) -> str:
    """A digest of the data files the profile names, so edited dialogue means a new dataset."""
    spec = profile.conversation
    digest = hashlib.sha256()
    for name in (spec.scripts, spec.regions, *sorted(spec.dialogue.values())):
        file = data_file(path, name)
        try:
            digest.update(file.read_bytes())
        except OSError as exc:
            msg = f"cannot read {file} (named by the profile's [conversation]): {exc}"
            raise ProfileError(msg) from exc
    return digest.hexdigest()[:16]


def dataset_seasons(
    profile: Profile, regions: Regions, start: datetime, end: datetime, key: int
) -> Seasons:
    """The dataset's seasons and seeded weather events (the report rebuilds them the same way)."""
    return Seasons.build(
        profile.seasons,
        regions,
        start=start,
        end=end,
        offset_hours=profile.utc_offset_hours,
        key=key ^ _SEASON_SALT,
    )
