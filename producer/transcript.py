"""The words of a call: ``custom.transcript`` and its companions, derived from the call story.

:class:`ConversationBuilder` turns a block of records (their scenario, times, duration, first
response, interruptions, sentiment and journey links) into the ``custom`` fields ``transcript``,
``language``, ``region``, ``journey``, ``satisfaction`` and ``commitment``. Everything that
depends only on the profile (scripts, expanded lines, line tables per tone, beat shapes) is
prepared once; per block, numpy draws every uniform at once, the per-record loop only picks and
formats strings, and ``producer/turn_times.py`` times every turn of the block at once.

How the transcript agrees with the metadata:
- the first turn is the agent's, starting at ``first_response_sec``; the last ends before
  ``duration_sec``; speaking time follows each line's length and the gaps absorb the rest;
- a call with ``interruptions = 1`` has exactly one caller turn starting before the agent's
  previous turn ends, and no other turn overlaps;
- a live transfer has the agent's transfer line and the technician's turn after a hold;
- a booking, dispatch or callback names the window in ``custom.commitment``;
- the caller's closing line has the tone of the sentiment the call ends with.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voicelens.producer.dialogue import (
    TONES,
    Language,
    ScriptsFile,
    load_language,
    load_scripts,
)
from voicelens.producer.journeys import JourneyPlan
from voicelens.producer.profile import Profile, ScenarioSpec, data_file
from voicelens.producer.regions import Regions, load_regions
from voicelens.producer.rng import uniforms, words
from voicelens.producer.slots import PRESET_SLOTS, CallSlots, preset_slots
from voicelens.producer.story import (
    CUSTOMER_FIELDS,
    BlockInput,
    Clock,
    Commitment,
    arc_cdf,
    caller_tone,
    csat_of,
    earlier_phrase,
    sentiment_starts,
)
from voicelens.producer.turn_times import (
    MAX_TURNS,
    STORY_FIELDS,
    TURN_FIELDS,
    TurnPlan,
    turn_times,
)
from voicelens.producer.turns import Beat, Render, Said, Table, fill, noisy
from voicelens.producer.turns import say as say_python
from voicelens.producer.vcp import round_cents, uuids_of

try:
    from voicelens.producer import _turns
except ImportError:  # built without a C compiler: the Python loops serve alone
    NATIVE = False
else:
    NATIVE = True

__all__ = ["NATIVE", "ConversationBuilder"]

_HOUR = 3600
_DAY = 86_400
# Uniform fields per record: the story's, then per turn (line, gap, noise) for up to 16 turns.
_FIELDS = STORY_FIELDS + TURN_FIELDS * MAX_TURNS
_CUSTOMER_SALT = 0xC057
_STORY_SALT = 0x5707
_ID_SALT = 0x1D5
_COMMITMENT = {
    "booked_service": "visit",
    "no_show_cancel": "visit",
    "emergency_service": "dispatch",
    "scheduled_callback": "callback",
}
#: A call's beats as the previous call shapes them: none, the company calling back, or the
#: caller calling again.
_FIRST, _RETURNED, _REPEAT = 0, 1, 2


@functools.cache
def _load(
    scripts: Path, regions: Path, dialogue: tuple[tuple[str, Path], ...]
) -> tuple[ScriptsFile, dict[str, Language], Regions]:
    """The data files, read and expanded once per process (datasets of one profile share them)."""
    loaded = load_scripts(scripts)
    languages = {tag: load_language(path, loaded) for tag, path in dialogue}
    return loaded, languages, load_regions(regions)


@dataclass(slots=True)
class _Call:
    """One record's story values, unpacked from the block's columns."""

    s: int
    r: list[float]
    cu: list[float]
    metro: int
    lang: Language
    start: int
    local: int
    duration: int
    first_response: float
    interruptions: int
    end_sentiment: float
    begin_sentiment: float
    prev: tuple[int, int, int, bool] | None
    commitment: Commitment | None = None
    cooling: bool = False


@dataclass(frozen=True, slots=True)
class _Shape:
    """One arrangement of a story's beats with what timing needs from it, made once."""

    beats: tuple[Beat, ...]
    #: Turns the agent works before (a look-up, a dispatch, a hold), in the order they get time.
    work: tuple[int, ...]
    #: Caller turns right after an agent turn: where an interruption can fall.
    overlaps: tuple[int, ...]
    #: Where the identity beats go when they are added (after the caller's first turn).
    identity_at: int


def _table(lang: Language, tone: str) -> Table:
    """Every line key (with or without its tone suffix) resolved for ``tone``."""
    keys = set(lang.lines)
    keys |= {key.rsplit(".", 1)[0] for key in lang.lines if key.rsplit(".", 1)[1] in TONES}
    table = {key: lang.line(key, tone) for key in keys}
    return {key: lines for key, lines in table.items() if lines is not None}


class ConversationBuilder:
    """Per-block builder of the conversation fields; one per dataset."""

    def __init__(
        self,
        profile: Profile,
        profile_path: Path | None,
        *,
        names: list[str],
        specs: list[ScenarioSpec],
        transcripts: bool,
        languages: tuple[str, ...],
        key: int,
        end_s: int,
    ) -> None:
        spec = profile.conversation
        self.transcripts = transcripts
        self.scripts, self.languages, self.regions = _load(
            data_file(profile_path, spec.scripts),
            data_file(profile_path, spec.regions),
            tuple((tag, data_file(profile_path, path)) for tag, path in spec.dialogue.items()),
        )
        for tag, lang in self.languages.items():
            if lang.tag != tag:
                msg = f"conversation.dialogue.{tag}: the file says language = {lang.tag!r}"
                raise ValueError(msg)
        self.primary = self.languages[languages[0]]
        self.spanish = self.languages.get("es-US") if "es-US" in languages else None
        self.english = self.languages.get("en-US")
        self.clock = Clock(self.regions)
        self.noise_rate = spec.asr_noise_rate
        #: Whether the per-turn loops run natively (``producer/_turns.c``, where it was built).
        self.native = NATIVE
        self.switch_rate = spec.code_switch_rate if self.english is not None else 0.0
        self.greet_rate = spec.english_greeting_rate if self.english is not None else 0.0
        names_cdf = arc_cdf({str(k): v for k, v in spec.arcs.items()})
        self.arc_names: tuple[str, ...] = names_cdf[0]
        self.arc_cdf = names_cdf[1]
        self.arc_array = np.array(self.arc_names)
        self.names = names
        self.success = [s.status == "success" for s in specs]
        self.beats = [
            tuple((key.split(".", 1)[0], key) for key in self.scripts.scripts[n]) for n in names
        ]
        self.code_switch = frozenset(self.scripts.code_switch)
        self.pauses_before = frozenset(self.scripts.pauses_before)
        self.transfer_after = self.scripts.transfer_after
        self.identity = tuple((key.split(".", 1)[0], key) for key in self.scripts.identity)
        self.skip_identity = [n in self.scripts.identity_skip for n in names]
        self.commitment = [_COMMITMENT.get(n) for n in names]
        self.spam = [n == "spam_filtered" for n in names]
        self.callback_scenarios = [k for k, n in enumerate(names) if n == "scheduled_callback"]
        self.key = key
        self.end_s = end_s + 2 * _HOUR
        self.tables = {
            (tag, tone): _table(lang, tone)
            for tag, lang in self.languages.items()
            for tone in TONES
        }
        self.zone_of_metro: list[int] = self.regions.zone_of_metro.tolist()
        self.cooling_share: list[list[float]] = self.regions.cooling_share.tolist()
        # How a window is said, per (language, start, end, the call's local day): windows start
        # on the hour, so a dataset says a few thousand distinct ones.
        self.spoken: dict[tuple[str, int, int, int], tuple[str, str]] = {}
        #: What ``_turns.say`` needs besides the call: made per block from the rates above.
        self._say_context: tuple[Any, ...] = ()
        self.shapes = {
            (s, kind, identity): self._make_shape(s, kind, identity)
            for s in range(len(names))
            for kind in (_FIRST, _RETURNED, _REPEAT)
            for identity in (False, True)
        }

    def block(
        self, data: BlockInput, plan: JourneyPlan, metro: npt.NDArray[np.int64]
    ) -> list[dict[str, Any]]:
        """The conversation fields of each record, in ``custom``'s key order."""
        idx = data.index
        root = plan.root[idx]
        previous = plan.previous[idx]
        follower = plan.follower[idx]
        cu = uniforms(self.key ^ _CUSTOMER_SALT, root, CUSTOMER_FIELDS)
        is_spanish = (
            cu[:, 1] < self.regions.spanish_share[metro]
            if self.spanish is not None
            else np.zeros(len(idx), dtype=bool)
        )
        r = uniforms(self.key ^ _STORY_SALT, idx, _FIELDS)
        ids = words(self.key ^ _ID_SALT, root, 4)
        has_prev = previous >= 0
        prev_at = np.where(has_prev, previous, 0)
        prev_ids = words(self.key ^ 0x5EED, prev_at, 2)
        prev_time = plan.times[prev_at]
        prev_callback = np.isin(plan.scenario[prev_at], self.callback_scenarios) & has_prev
        fol_time = plan.times[np.where(follower >= 0, follower, 0)]
        # The arc is the first whose cumulative share exceeds the draw (the last if none does).
        arcs = self.arc_array[
            np.minimum(
                np.searchsorted(self.arc_cdf, r[:, 1], side="right"), len(self.arc_names) - 1
            )
        ]
        begin_sentiment = round_cents(
            sentiment_starts(arcs, np.asarray(data.sentiment, dtype=np.float64), r[:, 2])
        )
        rows = r.tolist()
        preset = self._presets(r, cu, metro, is_spanish)
        cus = cu.tolist()
        metros = metro.tolist()
        es = is_spanish.tolist()
        seq = plan.sequence[idx].tolist()
        prev_l = previous.tolist()
        prev_t = prev_time.tolist()
        fol_l = follower.tolist()
        fol_t = fol_time.tolist()
        customers = uuids_of(ids[:, 0], ids[:, 1])
        journeys = uuids_of(ids[:, 2], ids[:, 3])
        prev_call_ids = uuids_of(prev_ids[:, 0], prev_ids[:, 1])
        pa, pb = prev_ids[:, 0].tolist(), prev_ids[:, 1].tolist()
        prev_cb = prev_callback.tolist()
        english_tag = self.english.tag if self.english is not None else None
        self._say_context = (float(self.noise_rate), noisy, english_tag, STORY_FIELDS, TURN_FIELDS)
        out = []
        # The turns' times are computed for the whole block at the end; until then each
        # transcript is an empty list waiting for its turns.
        timing = TurnPlan()
        pending: list[Said] = []
        for i, s in enumerate(data.scenario):
            prev = None if prev_l[i] < 0 else (pa[i], pb[i], prev_t[i], prev_cb[i])
            follow = fol_t[i] if fol_l[i] >= 0 else None
            call = self._call(
                data, i, s, rows[i], cus[i], metros[i], es[i], prev, follow, begin_sentiment[i]
            )
            journey = {
                # UUID-shaped: hex digit runs of another shape can look like phone numbers.
                "customer_id": "cust-" + customers[i],
                "journey_id": "jrn-" + journeys[i],
                "sequence": seq[i],
                "previous_call_id": None if prev is None else prev_call_ids[i],
            }
            fields: dict[str, Any] = {}
            if self.transcripts:
                fields["transcript"] = self._transcript(call, timing, pending, preset[i])
            fields["language"] = call.lang.tag
            fields["region"] = dict(self.regions.as_dict[call.metro])
            fields["journey"] = journey
            # Absent, not null, where there is nothing: a robocaller has no satisfaction, and a
            # call that promised nothing has no commitment (the codec's convention for custom).
            if not self.spam[s]:
                fields["satisfaction"] = {
                    "csat": csat_of(call.end_sentiment),
                    "sentiment_start": call.begin_sentiment,
                    "sentiment_end": call.end_sentiment,
                }
            if call.commitment is not None:
                fields["commitment"] = call.commitment.as_dict(self.clock)
            out.append(fields)
        if pending:
            (_turns.fill if self.native else fill)(pending, *turn_times(timing, r))
        return out

    def _call(  # noqa: PLR0917 -- one record's values, unpacked from the block's columns
        self,
        data: BlockInput,
        i: int,
        s: int,
        r: list[float],
        cu: list[float],
        metro: int,
        spanish: bool,
        prev: tuple[int, int, int, bool] | None,
        follow_time: int | None,
        begin_sentiment: float,
    ) -> _Call:
        lang = self.spanish if spanish and self.spanish is not None else self.primary
        start = data.start_s[i]
        offset = self.clock.offset(metro, start)
        local = start + offset
        end_sentiment = data.sentiment[i]
        call = _Call(
            s=s, r=r, cu=cu, metro=metro, lang=lang, start=start, local=local,
            duration=data.duration[i], first_response=data.first_response[i],
            interruptions=data.interruptions[i], end_sentiment=end_sentiment,
            begin_sentiment=begin_sentiment, prev=prev,
        )  # fmt: skip
        call.commitment = self._commitment(call, offset, follow_time)
        return call

    def _commitment(self, call: _Call, offset: int, follow_time: int | None) -> Commitment | None:
        kind = self.commitment[call.s]
        if kind is None:
            return None
        r, local = call.r, call.local
        if kind == "visit":
            # 1-4 working days ahead, a two-hour slot starting 8:00..16:00 local.
            day = local // _DAY
            ahead = 1 + int(r[14] * 4)
            while ahead:
                day += 1
                if (day + 3) % 7 < 5:
                    ahead -= 1
            begin = day * _DAY + (8 + int(r[15] * 9)) * _HOUR
            off = self.clock.offset(call.metro, begin - offset)
            return Commitment(kind, begin, begin + 2 * _HOUR, off)
        if kind == "dispatch":
            begin = (local // _HOUR + 1 + int(r[15] * 2)) * _HOUR
            return Commitment(kind, begin, begin + 2 * _HOUR, offset)
        # A callback: the window holds the follow-up call when the journey has one. Without one
        # (no fitting call before the dataset ends) it opens after the dataset's end.
        target = follow_time if follow_time is not None else max(call.start + _DAY, self.end_s)
        off = self.clock.offset(call.metro, target)
        begin = ((target + off) // _HOUR - int(r[15] * 2)) * _HOUR
        # Not before the call; the follow-up (the profile waits at least an hour) stays inside.
        begin = max(begin, -(-(call.start + off) // _HOUR) * _HOUR)
        return Commitment(kind, begin, begin + 2 * _HOUR, off)

    def _presets(
        self,
        r: npt.NDArray[np.float64],
        cu: npt.NDArray[np.float64],
        metro: npt.NDArray[np.int64],
        is_spanish: npt.NDArray[np.bool_],
    ) -> list[tuple[str, ...]]:
        """Each call's :data:`PRESET_SLOTS` values in its language (none without transcripts)."""
        if not self.transcripts:
            return [()] * len(r)
        rows = preset_slots(self.regions, self.primary, r, cu, metro)
        spanish = self.spanish
        if spanish is not None and spanish is not self.primary and is_spanish.any():
            other = preset_slots(self.regions, spanish, r, cu, metro)
            rows = [
                o if es else p for p, o, es in zip(rows, other, is_spanish.tolist(), strict=True)
            ]
        return rows

    def _make_shape(self, s: int, kind: int, identity: bool) -> _Shape:
        beats = list(self.beats[s])
        if kind == _RETURNED:  # the company calls back, as the previous call promised
            beats[0] = ("agent", "agent.greeting_return")
        elif kind == _REPEAT:
            beats[1:1] = [("caller", "caller.repeat_open"), ("agent", "agent.repeat_ack")]
        at = next((t for t, (who, _) in enumerate(beats) if who == "caller"), len(beats)) + 1
        if identity:
            beats[at:at] = self.identity
        n = len(beats)
        work = [t for t in range(1, n) if beats[t][1] in self.pauses_before]
        work += [t for t in range(1, n) if beats[t - 1][1] == self.transfer_after]
        overlaps = [
            t for t in range(1, n) if beats[t][0] == "caller" and beats[t - 1][0] == "agent"
        ]
        return _Shape(tuple(beats), tuple(work), tuple(overlaps), at)

    def _transcript(
        self,
        call: _Call,
        timing: TurnPlan,
        pending: list[Said],
        preset: tuple[str, ...],
    ) -> list[dict[str, Any]]:
        """An empty list for the turns; what they say goes to ``pending``, what times them to
        ``timing``, for the block to time and fill at once."""
        clock = self.clock
        lang, r, s, local, prev = call.lang, call.r, call.s, call.local, call.prev
        _, month, _ = clock.date(local // _DAY)
        call.cooling = r[9] < self.cooling_share[self.zone_of_metro[call.metro]][month - 1]
        slots = CallSlots(self.regions, lang, call, zip(PRESET_SLOTS, preset, strict=True))
        promised = call.commitment
        if promised is not None:
            key = (lang.tag, promised.start_local, promised.end_local, local // _DAY)
            said = self.spoken.get(key)
            if said is None:
                when = promised.spoken(lang, local, clock)
                said = self.spoken[key] = (when, when[:1].upper() + when[1:])
            slots["when"], slots["when_cap"] = said
        kind = _FIRST
        if prev is not None:
            prev_local = prev[2] + clock.offset(call.metro, prev[2])
            slots["prev_when"] = earlier_phrase(lang, local // _DAY - prev_local // _DAY)
            kind = _RETURNED if prev[3] else _REPEAT
        shape = self.shapes[s, kind, False]
        beats = shape.beats
        tone = caller_tone(call.end_sentiment)
        english_greeting = lang is self.spanish and r[18] < self.greet_rate
        switch_at = -1
        if lang is self.spanish and r[16] < self.switch_rate:
            options = [k for k, (_, key) in enumerate(beats) if key in self.code_switch]
            if options:
                switch_at = options[int(r[17] * len(options))]
        upset = call.begin_sentiment < 0.4 and not self.spam[s]
        state = Render(
            lang, self.tables[lang.tag, tone], slots, tone, upset, english_greeting, switch_at
        )
        state.returned = kind == _RETURNED
        texts = self._say(state, beats, 0, call)
        cps = lang.spec.chars_per_second
        available = call.duration - call.first_response
        if (
            prev is None
            and self.identity
            and not self.skip_identity[s]
            and not english_greeting
            and available > 2.2 * sum([max(0.6, len(text) / cps) for text in texts])
        ):
            # Time to spare: the agent confirms who is calling after the caller's first turn.
            at = shape.identity_at
            base = len(beats)
            extra = self._say(state, self.identity, base, call)
            extra_tags = state.tags[base:]
            del state.tags[base:]
            texts[at:at] = extra
            state.tags[at:at] = extra_tags
            shape = self.shapes[s, kind, True]
        overlap_at = -1
        if call.interruptions and shape.overlaps:
            overlap_at = shape.overlaps[int(r[25] * len(shape.overlaps))]
        row = len(timing.turns)
        timing.turns.append(len(texts))
        timing.chars_per_second.append(cps)
        timing.overlap_at.append(overlap_at)
        timing.duration.append(call.duration)
        timing.first_response.append(call.first_response)
        timing.lengths += map(len, texts)
        timing.work_call += [row] * len(shape.work)
        timing.work_turn += shape.work
        turns: list[dict[str, Any]] = []
        pending.append((turns, shape.beats, texts, state.tags))
        return turns

    def _english(self, state: Render, call: _Call) -> tuple[Table, dict[str, str]]:
        """The English lines and slots a Spanish call's English turn uses, made on first use."""
        english = self.english
        assert english is not None  # noqa: S101 -- rates are 0 without English
        if state.english_table is None or state.english_slots is None:
            state.english_table = self.tables[english.tag, state.tone]
            slots = CallSlots(self.regions, english, call)
            for name in ("when", "when_cap", "prev_when"):
                if name in state.slots:
                    slots[name] = state.slots[name]
            state.english_slots = slots
        return state.english_table, state.english_slots

    def _say(self, state: Render, beats: tuple[Beat, ...], base: int, call: _Call) -> list[str]:
        """The turns' texts; turn ``base + k`` draws on its own uniforms. Natively where built
        (``_turns.say``), else by its Python twin (``producer/turns.py``)."""
        say = _turns.say if self.native else say_python
        texts: list[str] = say(state, beats, base, call, self._english, self._say_context)
        return texts
