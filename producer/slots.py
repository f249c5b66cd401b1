"""The slot values a dialogue line names (``{name}``, ``{phone}``, ``{low}`` …), per call.

Lines come from the dialogue files with named slots; a call's values are drawn from its story's
uniforms (``r``) and its customer's (``cu``), each slot from its own, so a value does not depend
on which other slots the transcript happens to use. They are made on first use: a transcript
names about seven of the two dozen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from voicelens.producer.dialogue import Language
from voicelens.producer.regions import Regions

__all__ = ["CallDraws", "SlotValues", "slot_value"]


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


class SlotValues(dict[str, str]):
    """A call's slot values for ``str.format_map``, made on first use."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[str], str]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, name: str) -> str:
        value = self[name] = self._make(name)
        return value


def slot_value(regions: Regions, lang: Language, call: CallDraws, name: str) -> str:
    """Slot ``name`` of ``call`` in ``lang``; each draws on its own uniform, so the values do
    not depend on which others a transcript uses."""
    f = lang.fillers
    r, cu = call.r, call.cu
    match name:
        case "company":
            companies = f["company"]
            return companies[call.metro % len(companies)]
        case "agent" | "tech" | "noise" | "topic" | "spam_company" | "spam_product":
            values = f[name]
            return values[int(r[_STORY_FIELD[name]] * len(values))]
        case "name" | "surname" | "brand":
            values = f[name]
            return values[int(cu[_CUSTOMER_FIELD[name]] * len(values))]
        case "equipment" | "symptom":
            values = f[f"{name}.{'cooling' if call.cooling else 'heating'}"]
            return values[int(r[_STORY_FIELD[name]] * len(values))]
        case "age":
            return str(2 + int(cu[7] * 22))
        case "temp":
            return str(84 + int(r[12] * 13)) if call.cooling else str(44 + int(r[12] * 15))
        case "phone" | "last4":
            line = int(cu[4] * 100)
            if name == "last4":
                return f"01{line:02d}"
            codes = regions.metro[call.metro].area_codes
            return f"({codes[int(cu[5] * len(codes))]}) 555-01{line:02d}"
        case "metro":
            return regions.metro[call.metro].name
        case "town":
            outside = regions.metro[call.metro].outside
            return outside[int(cu[9] * len(outside))]
        case "sqft":
            return f"{1100 + int(cu[8] * 30) * 100:,}"
        case "low":
            return lang.spec.money.format(amount=f"{5000 + int(r[22] * 8) * 500:,}")
        case "high":
            return lang.spec.money.format(amount=f"{9000 + int(r[23] * 10) * 500:,}")
        case "ref":
            return f"{int(r[13] * 900_000) + 100_000}"
    raise KeyError(name)
