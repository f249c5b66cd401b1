"""Dialogue as data: the call stories' scripts and each language's lines, loaded and checked.

``profiles/dialogue/scripts.toml`` lists, per scenario, which side speaks which line;
``profiles/dialogue/<lang>.toml`` holds the lines as paraphrase grammars, the slot fillers and
how the language says hours, days and money. A line such as ``"(Hi|Hello), my {equipment}
{symptom}."`` expands, once at load, into every combination of its ``(a|b)`` groups; ``{slot}``
is filled per call. A bad file fails with a :class:`ProfileError` naming the file and field.
"""

from __future__ import annotations

import itertools
import re
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from voicelens.producer.exceptions import ProfileError

__all__ = [
    "SLOTS",
    "TONES",
    "Language",
    "LanguageFile",
    "Lines",
    "Render",
    "ScriptsFile",
    "compile_line",
    "expand",
    "lines_of",
    "load_language",
    "load_scripts",
]

#: Every slot a line may use. Fillers come from a language file's ``[slots]`` (``name``,
#: ``brand``...) or from the call's story (``when``, ``town``, ``temp``...).
SLOTS = frozenset(
    {
        "company", "agent", "tech", "name", "surname", "brand", "noise", "topic",
        "spam_company", "spam_product", "equipment", "symptom", "age", "temp", "when",
        "when_cap", "phone", "last4", "metro", "town", "sqft", "low", "high", "ref",
        "prev_when",
    }
)  # fmt: skip
#: Slots whose fillers depend on whether the problem is about cooling or heating.
SEASONAL_SLOTS = ("equipment", "symptom")
TONES = ("warm", "neutral", "cold")
_LIST_SLOTS = (
    "company", "agent", "tech", "name", "surname", "brand", "noise", "topic", "spam_company",
    "spam_product",
)  # fmt: skip
_GROUP = re.compile(r"\(([^()]*)\)")
_SPACES = re.compile(r"\s+")
_BEFORE_PUNCT = re.compile(r"\s+([,.!?;:])")
_MAX_EXPANSIONS = 2_000
_M = TypeVar("_M", bound=BaseModel)
Texts = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def expand(line: str) -> tuple[str, ...]:
    """Every sentence a paraphrase grammar line stands for, tidied (no double spaces)."""
    parts = _GROUP.split(line)
    # split() alternates literal text and group bodies: odd positions are groups.
    choices = [p.split("|") if i % 2 else [p] for i, p in enumerate(parts)]
    count = 1
    for options in choices:
        count *= len(options)
    if count > _MAX_EXPANSIONS:
        msg = f"expands to {count} sentences (at most {_MAX_EXPANSIONS})"
        raise ValueError(msg)
    out = []
    for combo in itertools.product(*choices):
        text = _BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", "".join(combo))).strip()
        out.append(text)
    return tuple(dict.fromkeys(out))


def _slots_of(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


class SeasonalSlots(_Frozen):
    """Fillers that differ for cooling and heating problems."""

    cooling: Texts
    heating: Texts


class SlotLists(_Frozen):
    """A language's slot fillers."""

    company: Texts
    agent: Texts
    tech: Texts
    name: Texts
    surname: Texts
    brand: Texts
    noise: Texts
    topic: Texts
    spam_company: Texts
    spam_product: Texts
    equipment: SeasonalSlots
    symptom: SeasonalSlots


class LanguageFile(_Frozen):
    """One ``dialogue/<lang>.toml`` as written."""

    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    chars_per_second: Annotated[float, Field(gt=0)]
    hours: tuple[str, ...] = Field(min_length=24, max_length=24)
    weekdays: tuple[str, ...] = Field(min_length=7, max_length=7)
    months: tuple[str, ...] = Field(min_length=12, max_length=12)
    today: str = Field(min_length=1)
    tomorrow: str = Field(min_length=1)
    on_day: str = Field(min_length=1)
    window: str = Field(min_length=1)
    earlier: Texts
    money: str = Field(min_length=1)
    fillers: Texts
    transfer_markers: Texts
    slots: SlotLists
    lines: dict[str, Texts]

    @model_validator(mode="after")
    def _check(self) -> LanguageFile:
        for key, texts in self.lines.items():
            if key.split(".", 1)[0] not in ("agent", "caller"):
                msg = f"lines.{key}: a line key starts with agent. or caller."
                raise ValueError(msg)
            for i, text in enumerate(texts):
                unknown = _slots_of(text) - SLOTS
                if unknown:
                    msg = f"lines.{key}[{i}]: unknown slot {{{sorted(unknown)[0]}}}"
                    raise ValueError(msg)
                try:
                    expand(text)
                except ValueError as exc:
                    msg = f"lines.{key}[{i}]: {exc}"
                    raise ValueError(msg) from exc
        for name, template, needed in (
            ("on_day", self.on_day, {"weekday", "month", "day"}),
            ("window", self.window, {"day", "start", "end"}),
            ("money", self.money, {"amount"}),
        ):
            if _slots_of(template) != needed:
                msg = f"{name}: must use exactly the slots {sorted(needed)}"
                raise ValueError(msg)
        return self


class ScriptsFile(_Frozen):
    """``dialogue/scripts.toml``: the beats of each scenario's story."""

    code_switch: tuple[str, ...]
    transfer_after: str = Field(min_length=1)
    pauses_before: tuple[str, ...] = ()
    identity: tuple[str, ...] = ()
    identity_skip: tuple[str, ...] = ()
    scripts: dict[str, Annotated[tuple[str, ...], Field(min_length=2)]]


#: A line with slots, made into a function of the call's slot values.
Render = Callable[[Mapping[str, str]], str]


def compile_line(text: str) -> Render:
    """``text.format_map`` as a function compiled once: an f-string over the line's literal
    pieces and slots, ~4x cheaper per call than parsing the line each time.

    The generated source holds only indices into the tuple of literal pieces and slot names
    checked against :data:`SLOTS`, never the line's own text. A field with a conversion or
    format spec (none in the packaged files) keeps ``format_map``.
    """
    literals: list[str] = []
    pieces: list[str] = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        if literal:
            pieces.append(f"_l[{len(literals)}]")
            literals.append(literal)
        if name is None:
            continue
        if spec or conversion or name not in SLOTS:
            return text.format_map
        pieces.append(f'd["{name}"]')
    source = "lambda d: f'" + "".join("{" + piece + "}" for piece in pieces) + "'"
    scope = {"__builtins__": {}, "_l": tuple(literals)}
    return cast("Render", eval(source, scope))  # noqa: S307 -- indices and checked slot names only


@dataclass(frozen=True, slots=True)
class Lines:
    """One line key's sentences, expanded; ``formatted`` marks the ones with slots, ``render``
    holds their compiled form (None for the others)."""

    texts: tuple[str, ...]
    formatted: tuple[bool, ...]
    render: tuple[Render | None, ...]

    def __reduce__(self) -> tuple[Callable[[tuple[str, ...]], Lines], tuple[tuple[str, ...]]]:
        # Compiled functions do not pickle: a dataset sent to worker processes carries the
        # texts, and each worker compiles them again.
        return (lines_of, (self.texts,))


def lines_of(texts: tuple[str, ...]) -> Lines:
    """The :class:`Lines` of expanded sentences, those with slots compiled."""
    formatted = tuple("{" in s for s in texts)
    render = tuple(compile_line(s) if f else None for s, f in zip(texts, formatted, strict=True))
    return Lines(texts, formatted, render)


@dataclass(frozen=True)
class Language:
    """A loaded language: its file plus every line expanded once."""

    spec: LanguageFile
    lines: dict[str, Lines]
    fillers: dict[str, tuple[str, ...]]

    @property
    def tag(self) -> str:
        """The BCP 47 tag, e.g. ``es-US``."""
        return self.spec.language

    def line(self, key: str, tone: str) -> Lines | None:
        """The sentences for ``key`` in the caller's ``tone`` when the file has a variant."""
        return self.lines.get(f"{key}.{tone}") or self.lines.get(key)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read dialogue file {path}: {exc.strerror or exc}"
        raise ProfileError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"dialogue file {path} is not valid TOML: {exc}"
        raise ProfileError(msg) from exc


def _validated(model: type[_M], data: dict[str, Any], path: Path) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        # A whole-file check names its field itself ("lines.caller.accept[3]: ...").
        text = first["msg"].removeprefix("Value error, ")
        msg = f"dialogue file {path}: field " + (f"{where}: {text}" if where else text)
        raise ProfileError(msg) from exc


def load_scripts(path: Path) -> ScriptsFile:
    """Load and validate the scenario scripts."""
    return _validated(ScriptsFile, _read(path), path)


def load_language(path: Path, scripts: ScriptsFile) -> Language:
    """Load one language file, check it has every line the scripts use, expand the grammar."""
    spec = _validated(LanguageFile, _read(path), path)
    needed = {key for beats in scripts.scripts.values() for key in beats}
    needed |= set(scripts.identity)
    needed |= {"agent.greeting_return", "caller.return_ack", "caller.repeat_open"}
    needed |= {"agent.repeat_ack", "caller.upset_prefix"}
    for key in sorted(needed):
        if key not in spec.lines and not all(f"{key}.{t}" in spec.lines for t in TONES):
            msg = f"dialogue file {path}: field lines.{key}: missing (a script uses it)"
            raise ProfileError(msg)
    lines = {}
    for key, texts in spec.lines.items():
        expanded = tuple(dict.fromkeys(s for t in texts for s in expand(t)))
        lines[key] = lines_of(expanded)
    fillers = {name: tuple(getattr(spec.slots, name)) for name in _LIST_SLOTS}
    for name in SEASONAL_SLOTS:
        seasonal = getattr(spec.slots, name)
        fillers[f"{name}.cooling"] = seasonal.cooling
        fillers[f"{name}.heating"] = seasonal.heating
    return Language(spec, lines, fillers)
