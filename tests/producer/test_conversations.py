"""Conversations with words: the transcript agrees with the VCP fields and with itself.

One generated dataset (12,000 calls over 60 days) is checked against the story's rules: timing,
overlaps, transfers, bookings, out-of-area places, spam, sentiment, CSAT, languages (against an
independent language identifier), regions, variety and journeys.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import orjson
import py3langid
import pytest

from voicelens.producer.dialogue import TONES
from voicelens.producer.exceptions import ProfileError
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.story import caller_tone, csat_of
from voicelens.report.pii import find_pii

END = "2026-11-01T00:00:00Z"
SPANISH_MARKETS = {"TX", "FL", "CA", "AZ", "NM", "NV"}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.from_options(GeneratorOptions(count=12_000, end_time=END, seed=7))


@pytest.fixture(scope="module")
def calls(dataset: Dataset) -> list[dict[str, Any]]:
    return list(dataset.conversations())


def _parts(c: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    p = c["vcp_payload"]
    return p, p["custom"], p["custom"]["transcript"]


def test_every_call_carries_all_the_new_fields(calls: list[dict[str, Any]]) -> None:
    for c in calls:
        _, custom, transcript = _parts(c)
        assert custom["language"] in ("en-US", "es-US")
        assert set(custom["region"]) == {"state", "metro", "climate_zone", "time_zone"}
        assert set(custom["journey"]) == {
            "customer_id", "journey_id", "sequence", "previous_call_id",
        }  # fmt: skip
        assert len(transcript) >= 3
        spam = custom["outcome_hint"] == "spam_filtered"
        assert ("satisfaction" in custom) is not spam


def test_turn_timing_fits_duration_first_response_and_interruptions(
    calls: list[dict[str, Any]],
) -> None:
    interrupted = 0
    for c in calls:
        p, _, turns = _parts(c)
        metrics = p["outcomes"]["objective"]["metrics"]
        assert turns[0]["speaker"] == "agent"
        assert turns[0]["start_sec"] == metrics["first_response_sec"]
        assert turns[-1]["end_sec"] <= p["call"]["duration_sec"]
        for t in turns:
            assert t["end_sec"] > t["start_sec"] >= 0
        starts = [t["start_sec"] for t in turns]
        assert starts == sorted(starts)
        overlaps = [b for a, b in itertools.pairwise(turns) if b["start_sec"] < a["end_sec"]]
        assert len(overlaps) == metrics["interruptions"], c["call_id"]
        assert all(t["speaker"] == "caller" for t in overlaps)
        interrupted += metrics["interruptions"]
    assert interrupted > 100


def test_story_beats_agree_with_the_outcome(dataset: Dataset, calls: list[dict[str, Any]]) -> None:
    builder = dataset._words  # the loaded dialogue and regions
    markers = {tag: lang.spec.transfer_markers for tag, lang in builder.languages.items()}
    outside = {m.name: m.outside for m in builder.regions.metro}
    seen: Counter[str] = Counter()
    for c in calls:
        p, custom, turns = _parts(c)
        scenario = custom["outcome_hint"]
        agent_text = " ".join(t["text"] for t in turns if t["speaker"] == "agent")
        everything = " ".join(t["text"] for t in turns)
        if "commitment" in custom:  # whatever was promised, it was promised for later
            promised = datetime.fromisoformat(custom["commitment"]["window_start"])
            called = datetime.fromisoformat(p["call"]["start_time"].replace("Z", "+00:00"))
            assert promised >= called, c["call_id"]
        if scenario == "live_transfer":
            assert any(m in agent_text for m in markers[custom["language"]]), c["call_id"]
            seen[scenario] += 1
        elif scenario == "out_of_service_area":
            assert any(town in everything for town in outside[custom["region"]["metro"]])
            seen[scenario] += 1
        elif scenario == "spam_filtered":
            assert p["call"]["duration_sec"] <= 60
            assert len(turns) <= 5
            seen[scenario] += 1
        elif scenario == "booked_service":
            window = custom["commitment"]
            assert window["kind"] == "visit"
            start = datetime.fromisoformat(window["window_start"])
            end = datetime.fromisoformat(window["window_end"])
            # A weekday, inside 8:00-18:00 in the caller's own time zone, after the call.
            assert start.weekday() < 5
            assert start.hour >= 8
            assert end.hour < 18 or (end.hour == 18 and end.minute == 0)
            assert start.utcoffset() == end.utcoffset()
            assert str(start.tzinfo) != "UTC"
            call_start = datetime.fromisoformat(p["call"]["start_time"].replace("Z", "+00:00"))
            assert start > call_start
            seen[scenario] += 1
        elif scenario == "emergency_service":
            assert custom["commitment"]["kind"] == "dispatch"
            seen[scenario] += 1
    assert len(seen) == 5
    assert min(seen.values()) > 100


def test_the_window_the_agent_names_is_the_committed_one(
    dataset: Dataset, calls: list[dict[str, Any]]
) -> None:
    langs = dataset._words.languages
    checked = 0
    for c in calls:
        _, custom, turns = _parts(c)
        window = custom.get("commitment")
        if window is None:
            continue
        spec = langs[custom["language"]].spec
        start = datetime.fromisoformat(window["window_start"])
        end = datetime.fromisoformat(window["window_end"])
        said = " ".join(t["text"] for t in turns if t["speaker"] == "agent" and "lang" not in t)
        assert f"{spec.hours[start.hour]} " in said or spec.hours[start.hour] in said
        assert spec.hours[end.hour] in said, (said, window)
        checked += 1
    assert checked > 3000


def test_sentiment_csat_and_the_closing_tone_follow_the_arc(
    dataset: Dataset, calls: list[dict[str, Any]]
) -> None:
    langs = dataset._words.languages
    pools = {
        (tag, tone): [_pattern(text) for text in lang.lines[f"caller.thanks.{tone}"].texts]
        for tag, lang in langs.items()
        for tone in TONES
    }
    fillers = {tag: lang.spec.fillers for tag, lang in langs.items()}
    for c in calls:
        p, custom, turns = _parts(c)
        if "satisfaction" not in custom:
            continue
        sat = custom["satisfaction"]
        score = p["outcomes"]["perceived"][0]["sentiment"]["score"]
        assert sat["sentiment_end"] == score
        assert sat["csat"] == csat_of(score)
        last_caller = [t for t in turns if t["speaker"] == "caller"][-1]
        tone = caller_tone(score)
        if custom["outcome_hint"] in ("booked_service", "scheduled_callback", "quote_requested"):
            text = _denoise(last_caller["text"], fillers[custom["language"]])
            pool = pools[(custom["language"], tone)]
            assert any(p.fullmatch(text) for p in pool), (text, tone)
    by_status: dict[str, list[int]] = {}
    for c in calls:
        custom = c["vcp_payload"]["custom"]
        if "satisfaction" in custom:
            status = c["vcp_payload"]["outcomes"]["objective"]["status"]
            by_status.setdefault(status, []).append(custom["satisfaction"]["csat"])
    mean = {k: sum(v) / len(v) for k, v in by_status.items()}
    assert mean["success"] > mean["partial"] + 0.5


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(template)), re.IGNORECASE)


def _denoise(text: str, fillers: tuple[str, ...]) -> str:
    """The line without the ASR noise the generator may add (a false start, a filler)."""
    text = re.sub(r"^[^ ]+- ", "", text)
    for filler in fillers:
        text = text.replace(f", {filler},", ",")
        if text.lower().startswith(f"{filler}, "):
            text = text[len(filler) + 2 :]
        if text.endswith(f", {filler}."):
            text = text[: -len(filler) - 3] + "."
    return text


def test_language_tags_agree_with_an_independent_identifier(calls: list[dict[str, Any]]) -> None:
    identifier = py3langid.langid.LanguageIdentifier.from_model_file(py3langid.langid.MODEL_FILE)
    identifier.set_languages(["en", "es"])
    agree = total = switched = 0
    for c in calls[:3000]:
        _, custom, turns = _parts(c)
        for t in turns:
            if len(t["text"]) < 30:
                continue  # a few words ("Sí, está bien.") say too little either way
            tag = t.get("lang", custom["language"])
            switched += "lang" in t
            total += 1
            agree += identifier.classify(t["text"])[0] == tag[:2]
    assert total > 10_000
    assert switched > 50
    assert agree / total > 0.97, agree / total


def test_spanish_share_is_higher_in_the_spanish_markets_and_agents_answer_in_it(
    dataset: Dataset, calls: list[dict[str, Any]]
) -> None:
    by_state: dict[str, list[bool]] = {}
    for c in calls:
        custom = c["vcp_payload"]["custom"]
        by_state.setdefault(custom["region"]["state"], []).append(custom["language"] == "es-US")
    assert len(by_state) >= 20
    expected = dataset._words.regions.spec.states
    for state, flags in by_state.items():
        n, share = len(flags), expected[state].spanish_share
        if n >= 200:
            tolerance = 4 * (share * (1 - share) / n) ** 0.5 + 0.01
            assert abs(sum(flags) / n - share) < tolerance, state
    markets = [f for s, fl in by_state.items() if s in SPANISH_MARKETS for f in fl]
    others = [f for s, fl in by_state.items() if s not in SPANISH_MARKETS for f in fl]
    assert sum(markets) / len(markets) > 3 * sum(others) / len(others)
    for c in calls:
        custom = c["vcp_payload"]["custom"]
        if custom["language"] == "es-US":
            agent = [t for t in custom["transcript"] if t["speaker"] == "agent"]
            # Every agent turn after the greeting is in Spanish: untagged.
            assert all("lang" not in t for t in agent[1:])


def test_variety_no_duplicate_transcripts_no_dominant_caller_line(
    calls: list[dict[str, Any]],
) -> None:
    texts = {
        orjson.dumps([t["text"] for t in c["vcp_payload"]["custom"]["transcript"]]) for c in calls
    }
    assert len(texts) == len(calls)
    lines = Counter(
        t["text"]
        for c in calls
        for t in c["vcp_payload"]["custom"]["transcript"]
        if t["speaker"] == "caller"
    )
    top, count = lines.most_common(1)[0]
    assert count / sum(lines.values()) <= 0.05, top
    noisy = sum(
        n for text, n in lines.items() if "- " in text or text.startswith(("Um", "Uh", "Eh"))
    )
    assert noisy > 0.03 * sum(lines.values())


def test_journeys_link_earlier_calls_of_the_same_customer(
    dataset: Dataset, calls: list[dict[str, Any]]
) -> None:
    by_id = {c["call_id"]: c for c in calls}
    repeat = 0
    for c in calls:
        journey = c["vcp_payload"]["custom"]["journey"]
        prev_id = journey["previous_call_id"]
        if prev_id is None:
            assert journey["sequence"] == 1
            continue
        repeat += 1
        prev = by_id[prev_id]
        prev_journey = prev["vcp_payload"]["custom"]["journey"]
        assert prev_journey["customer_id"] == journey["customer_id"]
        assert prev_journey["journey_id"] == journey["journey_id"]
        assert journey["sequence"] == prev_journey["sequence"] + 1
        assert prev["vcp_payload"]["call"]["start_time"] < c["vcp_payload"]["call"]["start_time"]
        assert prev["vcp_payload"]["custom"]["region"] == c["vcp_payload"]["custom"]["region"]
        assert prev["vcp_payload"]["custom"]["language"] == c["vcp_payload"]["custom"]["language"]
    assert repeat / len(calls) >= 0.10


def test_callbacks_quotes_and_emergencies_are_followed_up(
    dataset: Dataset, calls: list[dict[str, Any]]
) -> None:
    followers: dict[str, dict[str, Any]] = {}
    for c in calls:
        prev = c["vcp_payload"]["custom"]["journey"]["previous_call_id"]
        if prev is not None:
            followers[prev] = c
    outcome: dict[str, Counter[str]] = {}
    for c in calls:
        custom = c["vcp_payload"]["custom"]
        scenario = custom["outcome_hint"]
        nxt = followers.get(c["call_id"])
        tally = outcome.setdefault(scenario, Counter())
        if scenario == "scheduled_callback":
            window = custom["commitment"]
            end = datetime.fromisoformat(window["window_end"])
            if end >= dataset.window_end:
                continue  # the promised window closes after the dataset does
            assert nxt is not None, c["call_id"]
            at = datetime.fromisoformat(
                nxt["vcp_payload"]["call"]["start_time"].replace("Z", "+00:00")
            )
            assert datetime.fromisoformat(window["window_start"]) <= at <= end
            tally["followed"] += 1
        elif nxt is not None:
            tally[nxt["vcp_payload"]["custom"]["outcome_hint"]] += 1
        else:
            tally["none"] += 1
    assert outcome["scheduled_callback"]["followed"] > 1000
    quotes = outcome["quote_requested"]
    assert 0.2 < quotes["booked_service"] / sum(quotes.values()) < 0.7
    emergencies = outcome["emergency_service"]
    assert emergencies["none"] / sum(emergencies.values()) < 0.25  # late ones run out of time


def test_transcripts_are_pii_free_but_the_scan_reads_them(calls: list[dict[str, Any]]) -> None:
    assert all(find_pii(c) == [] for c in calls[:2000])
    tainted = orjson.loads(orjson.dumps(calls[0]))
    tainted["vcp_payload"]["custom"]["transcript"][1]["text"] = "call me at (312) 867-5309"
    assert [kind for kind, _ in find_pii(tainted)] == ["phone"]


def test_transcripts_off_and_languages_chosen() -> None:
    ds = Dataset.from_options(
        GeneratorOptions(count=300, end_time=END, transcripts=False, languages="es-US")
    )
    for c in ds.conversations():
        custom = c["vcp_payload"]["custom"]
        assert "transcript" not in custom
        assert custom["language"] == "es-US"
    on = Dataset.from_options(GeneratorOptions(count=300, end_time=END))
    assert ds.dataset_id != on.dataset_id
    with pytest.raises(
        ProfileError, match=r"--languages / VOICELENS_LANGUAGES: no dialogue for fr-FR"
    ):
        Dataset.from_options(GeneratorOptions(count=3, end_time=END, languages="en-US,fr-FR"))


def test_local_call_times_follow_the_callers_time_zone(calls: list[dict[str, Any]]) -> None:
    # The booking is in local time: its offset is the caller's zone's, not the contractor's.
    offsets: dict[str, set[timedelta | None]] = {}
    for c in calls:
        custom = c["vcp_payload"]["custom"]
        window = custom.get("commitment")
        if window is not None:
            zone = custom["region"]["time_zone"]
            offsets.setdefault(zone, set()).add(
                datetime.fromisoformat(window["window_start"]).utcoffset()
            )
    assert offsets["America/Phoenix"] == {timedelta(hours=-7)}  # no daylight saving time
    assert offsets["America/New_York"] <= {timedelta(hours=-4), timedelta(hours=-5)}
    assert offsets["America/Los_Angeles"] <= {timedelta(hours=-7), timedelta(hours=-8)}
