"""Dialogue, scripts and regions are data files: they load, they are complete, bad ones name
the field, and the Spanish is Spanish."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import py3langid
import pytest
import tomli_w

from voicelens.producer.dialogue import SLOTS, compile_line, expand, load_language, load_scripts
from voicelens.producer.exceptions import ProfileError
from voicelens.producer.profile import DEFAULT_PROFILE, load_profile
from voicelens.producer.regions import load_regions

FOLDER = DEFAULT_PROFILE.parent
SCRIPTS = FOLDER / "dialogue" / "scripts.toml"


def test_paraphrase_grammar_expands_every_combination() -> None:
    assert expand("(Hi|Hello), my {equipment} (really |)works .") == (
        "Hi, my {equipment} really works.",
        "Hi, my {equipment} works.",
        "Hello, my {equipment} really works.",
        "Hello, my {equipment} works.",
    )


@pytest.mark.parametrize("name", ["en", "es"])
def test_each_language_has_every_line_the_scripts_use(name: str) -> None:
    scripts = load_scripts(SCRIPTS)
    lang = load_language(FOLDER / "dialogue" / f"{name}.toml", scripts)
    for beats in scripts.scripts.values():
        for key in beats:
            assert lang.line(key, "warm") is not None, key
    # Caller lines people say in many calls need many ways of saying them.
    for key in ("caller.accept", "caller.thanks.warm", "caller.confirm_phone"):
        assert len(lang.lines[key].texts) >= 8, key


def test_spanish_lines_are_identified_as_spanish_and_english_as_english() -> None:
    identifier = py3langid.langid.LanguageIdentifier.from_model_file(py3langid.langid.MODEL_FILE)
    identifier.set_languages(["en", "es"])
    scripts = load_scripts(SCRIPTS)
    for name, code in (("en", "en"), ("es", "es")):
        lang = load_language(FOLDER / "dialogue" / f"{name}.toml", scripts)
        long_lines = [t for lines in lang.lines.values() for t in lines.texts if len(t) > 40]
        wrong = [t for t in long_lines if identifier.classify(t)[0] != code]
        assert len(wrong) / len(long_lines) < 0.03, wrong[:5]


def _rewrite(tmp_path: Path, source: Path, mutate: Any) -> Path:
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / source.name
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["lines"]["caller.accept"].append("Yes, {nope}."), r"lines\.caller\.accept"),
        (lambda d: d["lines"].pop("agent.transfer"), r"lines\.agent\.transfer: missing"),
        (lambda d: d.update(hours=d["hours"][:23]), "field hours"),
        (lambda d: d.update(window="{day} from {start}"), "field window"),
        (lambda d: d["slots"].pop("brand"), r"field slots\.brand"),
    ],
)
def test_a_bad_dialogue_file_names_the_field(tmp_path: Path, mutate: Any, field: str) -> None:
    path = _rewrite(tmp_path, FOLDER / "dialogue" / "en.toml", mutate)
    with pytest.raises(ProfileError, match=field):
        load_language(path, load_scripts(SCRIPTS))


def test_regions_cover_twenty_states_and_bad_ones_name_the_field(tmp_path: Path) -> None:
    regions = load_regions(FOLDER / "regions.toml")
    shares = regions.state_shares()
    assert len(shares) >= 20
    assert sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=shares.__getitem__) in {"TX", "CA"}
    spanish = {s: st.spanish_share for s, st in regions.spec.states.items()}
    assert min(spanish[s] for s in ("TX", "FL", "CA", "AZ", "NM", "NV")) > max(
        v for s, v in spanish.items() if s not in {"TX", "FL", "CA", "AZ", "NM", "NV", "NY"}
    )

    def bad_zone(d: dict[str, Any]) -> None:
        d["states"]["TX"]["metros"][0]["climate_zone"] = "tropical"

    path = _rewrite(tmp_path, FOLDER / "regions.toml", bad_zone)
    with pytest.raises(ProfileError, match=r"states\.TX\.metros\.0\.climate_zone: unknown zone"):
        load_regions(path)

    def bad_tz(d: dict[str, Any]) -> None:
        d["states"]["FL"]["metros"][1]["time_zone"] = "America/Atlantis"

    path = _rewrite(tmp_path, FOLDER / "regions.toml", bad_tz)
    with pytest.raises(ProfileError, match=r"states\.FL\.metros\.1\.time_zone"):
        load_regions(path)


def test_profile_conversation_and_journey_keys_are_checked(tmp_path: Path) -> None:
    def unknown_language(d: dict[str, Any]) -> None:
        d["conversation"]["languages"] = ["en-US", "fr-FR"]

    path = _rewrite(tmp_path, DEFAULT_PROFILE, unknown_language)
    with pytest.raises(
        ProfileError, match=r"field conversation: .*no dialogue file for \['fr-FR'\]"
    ):
        load_profile(path)

    def unknown_follower(d: dict[str, Any]) -> None:
        d["journeys"]["quote_requested"]["followers"] = ["booked_servce"]

    path = _rewrite(tmp_path, DEFAULT_PROFILE, unknown_follower)
    with pytest.raises(ProfileError, match=r"journeys\.quote_requested: unknown scenario"):
        load_profile(path)


@pytest.mark.parametrize("tag", ["en", "es"])
def test_compiled_lines_render_as_format_map_does(tag: str) -> None:
    folder = DEFAULT_PROFILE.parent / "dialogue"
    lang = load_language(folder / f"{tag}.toml", load_scripts(folder / "scripts.toml"))
    values = {name: f"<{name} {{x}} 'q' \"qq\" \\>" for name in SLOTS}
    rendered = 0
    for lines in lang.lines.values():
        for text, render in zip(lines.texts, lines.render, strict=True):
            assert (render is None) == ("{" not in text)
            if render is not None:
                assert render(values) == text.format_map(values)
                rendered += 1
    assert rendered > 100


def test_a_compiled_line_keeps_the_text_out_of_the_code() -> None:
    hostile = "It's {name}'s \"quote\" {{braces}} \\ \n'''; __import__('os') {ref}"
    values = {"name": "Ana", "ref": "123456"}
    assert compile_line(hostile)(values) == hostile.format_map(values)
    # A conversion or spec, and a name outside SLOTS, keep format_map itself.
    assert compile_line("{name!r}")(values) == "'Ana'"
    assert compile_line("{ref:>8}")(values) == "  123456"
    with pytest.raises(KeyError, match="weather"):
        compile_line("{weather}")(values)
