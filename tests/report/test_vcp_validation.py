"""VCP 0.3 validity: the user's reference examples pass; a broken record fails naming the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.report.vcp_validation import validate

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
EXAMPLES = sorted(REFERENCE.glob("*.json"))


def _example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (REFERENCE / "hvac_001_booked_service_retell.json").read_text()
    )
    return doc


def test_there_are_eight_reference_examples() -> None:
    assert len(EXAMPLES) == 8


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_reference_example_is_valid(path: Path) -> None:
    assert validate(json.loads(path.read_text())) == []


@pytest.mark.parametrize("mode", ["gtm", "full"])
def test_generated_conversations_are_valid(mode: str) -> None:
    ds = Dataset.from_options(
        GeneratorOptions(count=400, seed=8, vcp_mode=mode, end_time="2026-11-01T00:00:00Z")
    )
    assert {c["call_id"]: validate(c) for c in ds.conversations() if validate(c)} == {}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return edit


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[key]
        del node[last]

    return edit


P = "vcp_payload"
BROKEN = [
    (_delete(f"{P}.audit"), f"{P}.audit"),
    (_set(f"{P}.call.duration_sec", "180"), f"{P}.call.duration_sec"),
    (_set(f"{P}.call.provider", "twilio"), f"{P}.call.provider"),
    (_set(f"{P}.outcomes.objective.confidence", 1.5), f"{P}.outcomes.objective.confidence"),
    (_set(f"{P}.outcomes.objective.status", "done"), f"{P}.outcomes.objective.status"),
    (_set(f"{P}.call.start_time", "2025-10-10 19:42:10"), f"{P}.call.start_time"),
    (_set(f"{P}.call.surprise", 1), f"{P}.call.surprise"),
    (_set("call_id", "not-a-uuid"), "call_id"),
    (_set("vcp_version", "0.2"), "vcp_version"),
    (_set(f"{P}.outcomes.perceived.0.by", "robot"), f"{P}.outcomes.perceived.0.by"),
    (_set(f"{P}.outcomes.objective.metrics.first_contact_resolution", 1), "first_contact"),
    (_set(f"{P}.call.end_time", "2025-10-10T19:45:11.000Z"), f"{P}.call.end_time"),
    (_set(f"{P}.outcomes.objective.metrics.aht_sec", 181), "metrics.aht_sec"),
    (_set(f"{P}.call.call_id", "00000000-0000-0000-0000-000000000000"), f"{P}.call.call_id"),
    (_set(f"{P}.audit.received_at", "2025-10-10T19:45:09.000Z"), f"{P}.audit"),
    (_set(f"{P}.outcomes.objective.scored_criteria.0.id", "sc9"), "scored_criteria"),
    (_set(f"{P}.outcomes.objective.metrics.handoff_performed", True), "handoff_performed"),
]


@pytest.mark.parametrize(("edit", "field"), BROKEN, ids=[f for _, f in BROKEN])
def test_a_broken_record_fails_naming_the_field(
    edit: Callable[[dict[str, Any]], None], field: str
) -> None:
    doc = copy.deepcopy(_example())
    edit(doc)
    problems = validate(doc)
    assert problems, "the broken record passed"
    assert any(field in p for p in problems), problems


def test_extra_keys_are_allowed_in_custom_only() -> None:
    doc = _example()
    doc[P]["custom"]["transcript"] = [{"speaker": "caller", "text": "no heat"}]
    assert validate(doc) == []


def test_not_an_object() -> None:
    assert validate(["a", "list"]) == ["(document): not a JSON object"]
