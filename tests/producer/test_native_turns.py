"""``producer/_turns.c``: the transcript's per-turn loops, natively, against their Python twins.

The generated conversations must be the same objects either way (the pinned digests of
``test_block_columns.py`` hold for the native path, which the generator takes where built); the
rarer branches (a code switch, an English greeting, ASR noise, a call back) are forced here by
raising their rates. Malformed input raises rather than crashing, and no path keeps memory.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from leak_support import memory_kept

from voicelens.producer import _turns, transcript, turns
from voicelens.producer.dialogue import lines_of
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.transcript import ConversationBuilder
from voicelens.producer.turn_times import STORY_FIELDS, TURN_FIELDS

END = "2026-11-01T00:00:00Z"


def test_the_native_loops_are_built_and_used() -> None:
    assert transcript.NATIVE, "producer/_turns.c was not built (no C compiler at install?)"
    dataset = Dataset.from_options(GeneratorOptions(count=10, end_time=END))
    assert isinstance(dataset._words, ConversationBuilder)
    assert dataset._words.native


def _conversations(native: bool, rates: dict[str, float], **options: Any) -> list[dict[str, Any]]:
    dataset = Dataset.from_options(GeneratorOptions(end_time=END, **options))
    builder = dataset._words
    builder.native = native
    for name, rate in rates.items():
        setattr(builder, name, rate)
    return list(dataset.conversations())


@pytest.mark.parametrize(
    ("rates", "options"),
    [
        ({}, {"count": 4_000, "seed": 42}),
        # Every Spanish call switches, half are greeted in English, most caller turns are noisy.
        (
            {"switch_rate": 1.0, "greet_rate": 0.5, "noise_rate": 0.9},
            {"count": 3_000, "seed": 7, "languages": "es-US,en-US"},
        ),
        ({"noise_rate": 0.0}, {"count": 1_500, "seed": 3, "languages": "en-US"}),
    ],
)
def test_the_native_loops_write_what_the_python_loops_write(
    rates: dict[str, float], options: dict[str, Any]
) -> None:
    native = _conversations(True, rates, **options)
    python = _conversations(False, rates, **options)
    assert native == python
    turns = [t for c in native for t in c["vcp_payload"]["custom"]["transcript"]]
    assert len(turns) > 6 * len(native)
    # Key order is part of the bytes (JSON, and the order a reader sees).
    assert {tuple(t) for t in turns} <= {
        ("speaker", "text", "start_sec", "end_sec"),
        ("speaker", "text", "start_sec", "end_sec", "lang"),
    }
    if rates.get("switch_rate"):  # the forced branches were taken
        assert sum("lang" in t for t in turns) > len(native) // 4


class _Spec:
    fillers = ("um", "eh")


class _Lang:
    def __init__(self) -> None:
        self.lines = {
            "caller.upset_prefix": lines_of(("Look,",)),
            "caller.return_ack": lines_of(("Oh hi.",)),
            "caller.ask_language": lines_of(("¿Habla español?",)),
            "agent.switch_language": lines_of(("Claro.",)),
        }
        self.spec = _Spec()


class _State:
    def __init__(self, **changes: Any) -> None:
        self.lang = _Lang()
        self.table = {
            "agent.greet": lines_of(("Hello, {company}.", "Hi there.")),
            "caller.ask": lines_of(("My {equipment} broke, it is {temp}.", "It is {temp}.")),
        }
        self.slots = {"company": "Acme", "equipment": "AC", "temp": "90."}
        self.upset = True
        self.english_greeting = True
        self.switch_at = 3
        self.first_caller = True
        self.switch_next = False
        self.returned = True
        self.tags: list[str | None] = []
        self.__dict__.update(changes)


class _Call:
    def __init__(self, r: list[float]) -> None:
        self.r = r


BEATS = (("agent", "agent.greet"), ("caller", "caller.ask"), ("agent", "agent.greet")) * 2


def _english(state: Any, call: Any) -> tuple[dict[str, Any], dict[str, str]]:
    return state.table, {**state.slots, "company": "Acme Inc"}


def _context(noise_rate: float = 0.5) -> tuple[Any, ...]:
    return (noise_rate, turns.noisy, "en-US", STORY_FIELDS, TURN_FIELDS)


def _uniforms(n: int, step: float = 0.37) -> list[float]:
    return [(k * step) % 1.0 for k in range(n)]


@pytest.mark.parametrize("step", [0.37, 0.0])  # 0.0: every uniform 0, a noise rate's edge
@pytest.mark.parametrize("noise_rate", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("changes", [{}, {"upset": False, "returned": False}, {"switch_at": -1}])
def test_hand_made_states_give_the_python_texts_tags_and_flags(
    noise_rate: float, changes: dict[str, Any], step: float
) -> None:
    r = _uniforms(STORY_FIELDS + TURN_FIELDS * (len(BEATS) + 2), step)
    call = _Call(r)
    native_state, python_state = _State(**changes), _State(**changes)
    texts = _turns.say(native_state, BEATS, 1, call, _english, _context(noise_rate))
    expected = turns.say(python_state, BEATS, 1, call, _english, _context(noise_rate))  # type: ignore[arg-type]
    assert texts == expected
    assert native_state.tags == python_state.tags
    assert (native_state.first_caller, native_state.switch_next) == (
        python_state.first_caller,
        python_state.switch_next,
    )
    # A filler's period ("90.") before the line's own is said once.
    assert any("90." in t for t in texts) or step == 0.0
    assert all(".." not in t for t in texts)


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda s, c, b: (s, c, (("agent", "agent.nothing"),)), KeyError, "agent.nothing"),
        (lambda s, c, b: (s, _Call(c.r[:5]), b), IndexError, "uniform"),
        (lambda s, c, b: (s, _Call([*c.r[:-1], 1.0]), b[:1]), None, None),
        (lambda s, c, b: (s, _Call([1.5] * len(c.r)), b), ValueError, "uniform outside"),
        (lambda s, c, b: (s, _Call([1] * len(c.r)), b), TypeError, "not float"),
        (lambda s, c, b: (s, c, (("agent",),)), TypeError, "speaker, key"),
        (lambda s, c, b: (s, c, [("agent", "agent.greet")]), TypeError, "tuple"),
        (lambda s, c, b: (_State(tags=()), c, b), TypeError, "lists"),
        (lambda s, c, b: (_State(lang=None), c, b), AttributeError, "lines"),
    ],
)
def test_malformed_input_raises(mutate: Any, error: type[Exception] | None, match: str) -> None:
    r = _uniforms(STORY_FIELDS + TURN_FIELDS * (len(BEATS) + 2))
    state, call, beats = mutate(_State(), _Call(r), BEATS)
    if error is None:  # the last uniform is unused by the first beat: fine
        assert len(_turns.say(state, beats, 0, call, _english, _context())) == 1
        return
    with pytest.raises(error, match=match):
        _turns.say(state, beats, 0, call, _english, _context())


def _fill_input(turns: int = 3) -> tuple[list[Any], list[float], list[float]]:
    beats = tuple(("agent" if k % 2 == 0 else "caller", f"k{k}") for k in range(turns))
    said = [([], beats, [f"t{k}" for k in range(turns)], [None, "en-US", None][:turns])]
    return said, [float(k) for k in range(turns)], [k + 0.5 for k in range(turns)]


def test_fill_makes_the_python_dicts() -> None:
    said, begins, ends = _fill_input()
    twin = copy.deepcopy(said)
    _turns.fill(said, begins, ends)
    turns.fill(twin, begins, ends)
    assert said == twin
    assert [list(t) for t in said[0][0]] == [list(t) for t in twin[0][0]]
    assert said[0][0][1] == {
        "speaker": "caller",
        "text": "t1",
        "start_sec": 1.0,
        "end_sec": 1.5,
        "lang": "en-US",
    }


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda s, b, e: ([(s[0][0], s[0][1], s[0][2][:2], s[0][3])], b, e), ValueError),
        (lambda s, b, e: (s, b[:2], e[:2]), IndexError),
        (lambda s, b, e: (s, b, e[:2]), ValueError),
        (lambda s, b, e: (tuple(s), b, e), TypeError),
        (lambda s, b, e: ([s[0][:3]], b, e), TypeError),
    ],
)
def test_fill_refuses_what_does_not_fit(change: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        _turns.fill(*change(*_fill_input()))


def test_the_loops_keep_no_memory_on_any_path() -> None:
    """Every temporary is freed, on the failing paths too (a leak in C shows only here)."""
    r = _uniforms(STORY_FIELDS + TURN_FIELDS * (len(BEATS) + 2))

    def once() -> None:
        for noise_rate in (0.0, 1.0):
            state = _State()
            _turns.say(state, BEATS, 1, _Call(r), _english, _context(noise_rate))
        for bad in (_Call(r[:5]), _Call([1.5] * len(r))):
            with pytest.raises((IndexError, ValueError)):
                _turns.say(_State(), BEATS, 0, bad, _english, _context())
        with pytest.raises(KeyError):
            _turns.say(_State(), (("agent", "nope"),), 0, _Call(r), _english, _context())
        said, begins, ends = _fill_input()
        _turns.fill(said, begins, ends)
        with pytest.raises(IndexError):
            _turns.fill(said, begins[:1], ends[:1])

    grown = memory_kept(once, 500)
    # 500 rounds of ~14 texts, 3 dicts and 4 errors: a leak each would be hundreds of KB.
    assert grown < 20_000, grown
