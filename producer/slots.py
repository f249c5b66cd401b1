"""The slot values a dialogue line names (``{name}``, ``{phone}``, ``{low}`` …), per call.

Lines come from the dialogue files with named slots; a call's values are drawn from its story's
uniforms (``r``) and its customer's (``cu``), each slot from its own, so a value does not depend
on which other slots the transcript happens to use. They are made on first use: a transcript
names about seven of the two dozen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from voicelens.producer.dialogue import Language
from voicelens.producer.regions import Regions

__all__ = ["PRESET_SLOTS", "CallDraws", "CallSlots", "SlotValues", "preset_slots", "slot_value"]


class CallDraws(Protocol):
    """What a slot value is drawn from: one call's uniforms, metro and season."""

    @property
    def r(self) -> list[float]: ...
    @property
    def cu(self) -> list[float]: ...
    @property
    def metro(self) -> int: ...
    @property
    def cooling(self) -> bool: ...


#: Which of the story's uniforms (``r``) and the customer's (``cu``) each picked slot uses.
_STORY_FIELD = {
    "agent": 3,
    "tech": 4,
    "noise": 5,
    "topic": 6,
    "spam_company": 7,
    "spam_product": 8,
    "equipment": 10,
    "symptom": 11,
}
_CUSTOMER_FIELD = {"name": 2, "surname": 3, "brand": 6}
_Maker = Callable[[Regions, Language, CallDraws], str]


class SlotValues(dict[str, str]):
    """A call's slot values for ``str.format_map``, made on first use."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[str], str]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, name: str) -> str:
        value = self[name] = self._make(name)
        return value


def _company(regions: Regions, lang: Language, call: CallDraws) -> str:
    companies = lang.fillers["company"]
    return companies[call.metro % len(companies)]


def _story_pick(name: str) -> _Maker:
    field = _STORY_FIELD[name]

    def pick(regions: Regions, lang: Language, call: CallDraws) -> str:
        values = lang.fillers[name]
        return values[int(call.r[field] * len(values))]

    return pick


def _customer_pick(name: str) -> _Maker:
    field = _CUSTOMER_FIELD[name]

    def pick(regions: Regions, lang: Language, call: CallDraws) -> str:
        values = lang.fillers[name]
        return values[int(call.cu[field] * len(values))]

    return pick


def _seasonal_pick(name: str) -> _Maker:
    field = _STORY_FIELD[name]
    cooling, heating = f"{name}.cooling", f"{name}.heating"

    def pick(regions: Regions, lang: Language, call: CallDraws) -> str:
        values = lang.fillers[cooling if call.cooling else heating]
        return values[int(call.r[field] * len(values))]

    return pick


def _age(regions: Regions, lang: Language, call: CallDraws) -> str:
    return str(2 + int(call.cu[7] * 22))


def _temp(regions: Regions, lang: Language, call: CallDraws) -> str:
    r = call.r
    return str(84 + int(r[12] * 13)) if call.cooling else str(44 + int(r[12] * 15))


def _phone(regions: Regions, lang: Language, call: CallDraws) -> str:
    codes = regions.metro[call.metro].area_codes
    cu = call.cu
    return f"({codes[int(cu[5] * len(codes))]}) 555-01{int(cu[4] * 100):02d}"


def _last4(regions: Regions, lang: Language, call: CallDraws) -> str:
    return f"01{int(call.cu[4] * 100):02d}"


def _metro(regions: Regions, lang: Language, call: CallDraws) -> str:
    return regions.metro[call.metro].name


def _town(regions: Regions, lang: Language, call: CallDraws) -> str:
    outside = regions.metro[call.metro].outside
    return outside[int(call.cu[9] * len(outside))]


def _sqft(regions: Regions, lang: Language, call: CallDraws) -> str:
    return f"{1100 + int(call.cu[8] * 30) * 100:,}"


def _low(regions: Regions, lang: Language, call: CallDraws) -> str:
    return lang.spec.money.format(amount=f"{5000 + int(call.r[22] * 8) * 500:,}")


def _high(regions: Regions, lang: Language, call: CallDraws) -> str:
    return lang.spec.money.format(amount=f"{9000 + int(call.r[23] * 10) * 500:,}")


def _ref(regions: Regions, lang: Language, call: CallDraws) -> str:
    return f"{int(call.r[13] * 900_000) + 100_000}"


#: How each slot's value is made; a dict look-up per slot instead of a chain of comparisons.
_MAKERS: dict[str, _Maker] = {
    "company": _company,
    **{name: _story_pick(name) for name in ("agent", "tech", "noise", "topic")},
    **{name: _story_pick(name) for name in ("spam_company", "spam_product")},
    **{name: _customer_pick(name) for name in _CUSTOMER_FIELD},
    **{name: _seasonal_pick(name) for name in ("equipment", "symptom")},
    "age": _age,
    "temp": _temp,
    "phone": _phone,
    "last4": _last4,
    "metro": _metro,
    "town": _town,
    "sqft": _sqft,
    "low": _low,
    "high": _high,
    "ref": _ref,
}


def slot_value(regions: Regions, lang: Language, call: CallDraws, name: str) -> str:
    """Slot ``name`` of ``call`` in ``lang``; each draws on its own uniform, so the values do
    not depend on which others a transcript uses."""
    return _MAKERS[name](regions, lang, call)


#: Slots whose values :func:`preset_slots` makes for a whole block: plain picks by one uniform
#: that most transcripts name. The others (the season's, the phone's...) are made on first use.
PRESET_SLOTS = (
    "company", "agent", "tech", "noise", "topic", "spam_company", "spam_product", "name",
    "surname", "brand", "age", "last4", "metro", "ref",
)  # fmt: skip
_AGES = np.array([str(2 + k) for k in range(22)], dtype=object)
_LAST4 = np.array([f"01{k:02d}" for k in range(100)], dtype=object)


def _picks(values: tuple[str, ...], u: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """``values[int(u * len(values))]`` for every ``u`` (the same product, truncated)."""
    table = np.array(values, dtype=object)
    return table[(u * len(values)).astype(np.int64)]


def preset_slots(
    regions: Regions,
    lang: Language,
    r: npt.NDArray[np.float64],
    cu: npt.NDArray[np.float64],
    metro: npt.NDArray[np.int64],
) -> list[tuple[str, ...]]:
    """The :data:`PRESET_SLOTS` values of a block's calls (rows of ``r``, ``cu``, ``metro``),
    the very values :func:`slot_value` gives, one tuple per call."""
    f = lang.fillers
    companies = np.array(f["company"], dtype=object)
    names = np.array([m.name for m in regions.metro], dtype=object)
    columns = [
        companies[metro % len(companies)],
        *(_picks(f[name], r[:, _STORY_FIELD[name]]) for name in PRESET_SLOTS[1:7]),
        *(_picks(f[name], cu[:, _CUSTOMER_FIELD[name]]) for name in PRESET_SLOTS[7:10]),
        _AGES[(cu[:, 7] * 22).astype(np.int64)],
        _LAST4[(cu[:, 4] * 100).astype(np.int64)],
        names[metro],
        (np.floor(r[:, 13] * 900_000).astype(np.int64) + 100_000).astype(str).astype(object),
    ]
    return list(zip(*(c.tolist() for c in columns), strict=True))


class CallSlots(dict[str, str]):
    """One call's slot values for ``str.format_map``: ``preset`` ones given, the others made on
    first use (the transcript's hot path: no partial, no second dispatch)."""

    __slots__ = ("_call", "_lang", "_regions")

    def __init__(
        self,
        regions: Regions,
        lang: Language,
        call: CallDraws,
        preset: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(preset)
        self._regions = regions
        self._lang = lang
        self._call = call

    def __missing__(self, name: str) -> str:
        value = self[name] = _MAKERS[name](self._regions, self._lang, self._call)
        return value
