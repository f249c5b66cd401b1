"""The canonical form: numbers typed as the schema types them, nothing else changed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas.canonical import canonical_json, conform, float_paths
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
ENV = ConversationEnvelope("ev-1", "ds-1", 0, 0, "gen/1")
codec = ConversationCodec()


def _through_kafka(doc: dict[str, Any]) -> bytes:
    """The JSON of what a consumer decodes after ``doc`` was published."""
    return orjson.dumps(codec.decode(codec.encode(ENV, doc))[1])


def _integers(value: Any, paths: Any) -> Any:
    """``value`` with every integral float on a float-typed path written as an integer."""
    if paths is None:
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(value, dict):
        return {k: _integers(v, paths[k]) if k in paths else v for k, v in value.items()}
    if isinstance(value, list) and "[]" in paths:
        return [_integers(v, paths["[]"]) for v in value]
    return value


def test_the_float_typed_fields_come_from_the_schema() -> None:
    metrics = float_paths()["vcp_payload"]["outcomes"]["objective"]["metrics"]
    assert metrics == {"first_response_sec": None, "estimated_value_usd": None}
    # success_criteria[].value is boolean | long | double | string: an integer stays one.
    assert "call" not in float_paths()["vcp_payload"]


def test_integers_in_double_fields_match_what_kafka_gives_back() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        doc = orjson.loads(path.read_bytes())
        doc["vcp_payload"]["outcomes"]["objective"]["metrics"]["estimated_value_usd"] = 184
        doc["vcp_payload"]["outcomes"]["perception_gap"]["gap_score"] = 0
        as_written = _integers(doc, float_paths())
        before = copy.deepcopy(as_written)
        assert canonical_json(as_written) == _through_kafka(as_written), path.name
        assert as_written == before  # canonical_json does not change its argument
        assert orjson.dumps(conform(as_written)) == _through_kafka(before), path.name


def test_booleans_and_integers_of_union_fields_are_left_alone() -> None:
    doc = orjson.loads((EXAMPLES / "hvac_001_booked_service_retell.json").read_bytes())
    criteria = doc["vcp_payload"]["call"]["purpose_contract"]["success_criteria"]
    criteria[0]["value"] = 3
    criteria.append({**criteria[0], "value": True})
    doc["vcp_payload"]["outcomes"]["objective"]["confidence"] = True  # wrong, but not ours
    back = orjson.loads(canonical_json(doc))
    new = back["vcp_payload"]["call"]["purpose_contract"]["success_criteria"]
    assert type(new[0]["value"]) is int
    assert new[1]["value"] is True
    assert back["vcp_payload"]["outcomes"]["objective"]["confidence"] is True


def test_generated_conversations_are_already_canonical() -> None:
    # The publisher and `generate` checksum the generator's own JSON without converting it.
    for mode in ("gtm", "full"):
        ds = Dataset.from_options(
            GeneratorOptions(count=400, seed=9, vcp_mode=mode, end_time="2026-11-01T00:00:00Z")
        )
        for conv in ds.conversations():
            assert canonical_json(conv) == orjson.dumps(conv)
            assert _through_kafka(conv) == orjson.dumps(conv)


def test_shapes_other_than_the_schema_are_not_an_error() -> None:
    for doc in ({}, [], {"vcp_payload": None}, {"vcp_payload": {"outcomes": [1, 2]}}, 5):
        assert canonical_json(doc) == orjson.dumps(doc)
