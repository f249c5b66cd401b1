"""The transcript's per-turn loops in Python: the twin of ``producer/_turns.c``.

:func:`say` writes one transcript's turn texts and :func:`fill` makes a block's turn dicts, with
the C module's signatures, so :class:`~voicelens.producer.transcript.ConversationBuilder` calls
whichever was built and ``tests/producer/test_native_turns.py`` runs both on the same input. The
state they share (:class:`Render`, one per transcript) is what the C code reads by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicelens.producer.dialogue import Language, Lines

__all__ = ["Beat", "Render", "Said", "Table", "fill", "noisy", "say"]

#: One turn's speaker and line key.
Beat = tuple[str, str]
#: A line key's sentences in one tone: ``Language.line`` resolved once at load.
Table = dict[str, Lines]
#: One transcript waiting for its times: its (empty) turn list, beats, texts and language tags.
Said = tuple[list[dict[str, Any]], tuple[Beat, ...], list[str], list[str | None]]


class _Call(Protocol):
    """What :func:`say` reads of a call: its uniforms."""

    @property
    def r(self) -> list[float]: ...


@dataclass(slots=True)
class Render:
    """What one transcript's turns share while they are written."""

    lang: Language
    table: Table
    slots: dict[str, str]
    tone: str
    upset: bool
    english_greeting: bool
    switch_at: int
    english_table: Table | None = None
    english_slots: dict[str, str] | None = None
    first_caller: bool = True
    switch_next: bool = False
    returned: bool = False
    tags: list[str | None] = field(default_factory=list)


def _pick(lines: Lines, u: float) -> str:
    return lines.texts[int(u * len(lines.texts))]


def say(  # noqa: PLR0917 -- the C twin's signature
    state: Render,
    beats: tuple[Beat, ...],
    base: int,
    call: _Call,
    english: Callable[[Render, Any], tuple[Table, dict[str, str]]],
    context: tuple[Any, ...],
) -> list[str]:
    """The turns' texts; turn ``base + k`` draws on its own uniforms of ``call.r``.

    ``english(state, call)`` gives the English lines and slots of a Spanish call's English turn;
    ``context`` is ``(noise_rate, noisy, english_tag, story_fields, turn_fields)``. Appends each
    turn's language tag (None: the call's language) to ``state.tags``.
    """
    noise_rate, make_noisy, english_tag, story_fields, turn_fields = context
    r = call.r
    lang = state.lang
    table, slots = state.table, state.slots
    # Turns in English in a Spanish call: the greeting, and the turn that switches.
    in_english = {0, state.switch_at} if state.english_greeting else {state.switch_at}
    tags = state.tags
    texts = []
    for t, (speaker, key) in enumerate(beats, base):
        at = story_fields + turn_fields * t
        if t in in_english:
            use_table, use_slots = english(state, call)
            tag = english_tag
        else:
            use_table, use_slots, tag = table, slots, None
        lines = use_table[key]
        choices = lines.texts
        i = int(r[at] * len(choices))
        text = choices[i]
        render = lines.render[i]
        if render is not None:
            text = render(use_slots)
            if ".." in text:  # a filler ending in a period ("a.m.") before the line's own
                text = text.replace("..", ".")
        if speaker == "caller":
            if state.first_caller:
                state.first_caller = False
                if state.upset:
                    text = f"{_pick(lang.lines['caller.upset_prefix'], r[19])} {text}"
                if state.returned:  # answering the agent who called back
                    text = f"{_pick(lang.lines['caller.return_ack'], r[0])} {text}"
                ask = lang.lines.get("caller.ask_language")
                if state.english_greeting and ask is not None:
                    text = f"{_pick(ask, r[20])} {text}"
                    state.switch_next = True
            noise = r[at + 2]
            if noise < noise_rate and tag is None:
                text = make_noisy(text, lang.spec.fillers, noise / noise_rate)
        elif state.switch_next:
            state.switch_next = False
            switch = lang.lines.get("agent.switch_language")
            if switch is not None:
                text = f"{_pick(switch, r[21])} {text}"
        tags.append(tag)
        texts.append(text)
    return texts


def fill(said: list[Said], begins: list[float], ends: list[float]) -> None:
    """Each transcript's turns, from what they say and the block's times (in the same order)."""
    k = 0
    for turns, beats, texts, tags in said:
        append = turns.append
        for (speaker, _), text, tag in zip(beats, texts, tags, strict=True):
            turn = {"speaker": speaker, "text": text, "start_sec": begins[k], "end_sec": ends[k]}
            if tag is not None:
                turn["lang"] = tag
            append(turn)
            k += 1


def noisy(text: str, fillers: tuple[str, ...], u: float) -> str:
    """ASR-style noise: a filler up front, a false start, or a filler after the first comma."""
    filler = fillers[int(u * 7919) % len(fillers)]
    kind = int(u * 3)
    if kind == 0:
        return (
            f"{filler.capitalize()}, {text[:1].lower()}{text[1:]}"
            if text[:2] != "I "
            else (f"{filler.capitalize()}, {text}")
        )
    if kind == 1:
        head = text.split(" ", 1)[0].rstrip(",.!?")
        return f"{head}- {text}"
    comma = text.find(", ")
    if comma < 0:
        return f"{text[: len(text) - 1]}, {filler}{text[-1:]}" if text[-1:] in ".?!" else text
    return f"{text[:comma]}, {filler},{text[comma + 1 :]}"
