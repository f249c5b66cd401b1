"""Slot values of dialogue lines: made on first use, each from its own draw (pure logic, on the
packaged dialogue and region files)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pytest

from voicelens.producer.dialogue import Language, load_language, load_scripts
from voicelens.producer.profile import data_file
from voicelens.producer.regions import Regions, load_regions
from voicelens.producer.slots import (
    PRESET_SLOTS,
    CallSlots,
    SlotValues,
    preset_slots,
    slot_value,
)

NAMES = [
    "company",
    "agent",
    "tech",
    "name",
    "surname",
    "brand",
    "noise",
    "topic",
    "spam_company",
    "spam_product",
    "equipment",
    "symptom",
    "age",
    "temp",
    "phone",
    "last4",
    "metro",
    "town",
    "sqft",
    "low",
    "high",
    "ref",
]


@dataclass
class Draws:
    r: list[float]
    cu: list[float]
    metro: int = 0
    cooling: bool = True


@pytest.fixture(scope="module")
def regions() -> Regions:
    return load_regions(data_file(None, "regions.toml"))


@pytest.fixture(scope="module", params=["en", "es"])
def lang(request: pytest.FixtureRequest) -> Language:
    scripts = load_scripts(data_file(None, "dialogue/scripts.toml"))
    return load_language(data_file(None, f"dialogue/{request.param}.toml"), scripts)


def _draws(u: float) -> Draws:
    return Draws(r=[u] * 26, cu=[u] * 10)


def test_values_are_made_only_when_a_line_names_them(regions: Regions, lang: Language) -> None:
    made: list[str] = []

    def make(name: str) -> str:
        made.append(name)
        return slot_value(regions, lang, _draws(0.5), name)

    slots = SlotValues(make)
    text = "{name}, {name}: {phone}".format_map(slots)
    assert made == ["name", "phone"]  # each once, nothing else
    assert re.fullmatch(r"\(\d{3}\) 555-01\d\d", slots["phone"])
    assert text.startswith(slots["name"])


def test_a_value_does_not_depend_on_which_others_were_used(
    regions: Regions, lang: Language
) -> None:
    draws = _draws(0.37)
    one = SlotValues(functools.partial(slot_value, regions, lang, draws))
    other = SlotValues(functools.partial(slot_value, regions, lang, draws))
    for name in NAMES:
        one[name]
    for name in reversed(NAMES):
        assert other[name] == one[name], name


@pytest.mark.parametrize("u", [0.0, 0.5, 0.999999])
def test_every_slot_has_a_value_across_its_draw_range(
    regions: Regions, lang: Language, u: float
) -> None:
    for metro in range(len(regions.metro)):
        for cooling in (True, False):
            draws = Draws(r=[u] * 26, cu=[u] * 10, metro=metro, cooling=cooling)
            values = SlotValues(functools.partial(slot_value, regions, lang, draws))
            assert all(values[name] for name in NAMES)


def test_the_season_picks_the_equipment_and_the_temperature(
    regions: Regions, lang: Language
) -> None:
    hot = SlotValues(functools.partial(slot_value, regions, lang, Draws([0.1] * 26, [0.1] * 10)))
    cold_draws = Draws([0.1] * 26, [0.1] * 10, cooling=False)
    cold = SlotValues(functools.partial(slot_value, regions, lang, cold_draws))
    assert int(hot["temp"]) >= 84
    assert int(cold["temp"]) <= 59
    assert hot["equipment"] in lang.fillers["equipment.cooling"]
    assert cold["equipment"] in lang.fillers["equipment.heating"]


def test_an_unknown_slot_is_a_key_error_naming_it(regions: Regions, lang: Language) -> None:
    slots = SlotValues(functools.partial(slot_value, regions, lang, _draws(0.5)))
    with pytest.raises(KeyError, match="weather"):
        "{weather}".format_map(slots)


@pytest.mark.parametrize("u", [0.0, 0.37, 0.999999])
def test_call_slots_make_the_same_values_as_slot_value(
    regions: Regions, lang: Language, u: float
) -> None:
    for cooling in (True, False):
        draws = Draws(r=[u] * 26, cu=[u] * 10, metro=3, cooling=cooling)
        slots = CallSlots(regions, lang, draws)
        assert {name: slots[name] for name in NAMES} == {
            name: slot_value(regions, lang, draws, name) for name in NAMES
        }
    with pytest.raises(KeyError, match="weather"):
        "{weather}".format_map(CallSlots(regions, lang, _draws(0.5)))


def test_preset_slots_of_a_block_equal_slot_value_of_each(regions: Regions, lang: Language) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    r, cu = rng.random((n, 26)), rng.random((n, 10))
    r[0], cu[0] = 0.0, 0.0
    r[1], cu[1] = 1 - 2**-53, 1 - 2**-53  # the largest uniform: the last value of every list
    metro = rng.integers(0, len(regions.metro), n)
    rows = preset_slots(regions, lang, r, cu, metro)
    for i in range(n):
        draws = Draws(r[i].tolist(), cu[i].tolist(), metro=int(metro[i]))
        assert rows[i] == tuple(slot_value(regions, lang, draws, name) for name in PRESET_SLOTS)
