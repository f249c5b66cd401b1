"""Both specialised Avro writers (Python and native) write exactly fastavro's bytes, and leave
the rest to fastavro."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from avro_support import DELIVERY_EVENT, NODE, fastavro_bytes, generated, node_chain
from fastavro import parse_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicelens.schemas import codec as codec_module
from voicelens.schemas import native_writer
from voicelens.schemas.codec import (
    ConversationCodec,
    ConversationEnvelope,
    DatasetEventCodec,
    DeliveryEventCodec,
)
from voicelens.schemas.exceptions import EncodeError
from voicelens.schemas.registry import load
from voicelens.schemas.writer import FALLBACK_ERRORS, compile_writer

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
ENV = ConversationEnvelope("ev-1", "ds-1", 7, 1_700_000_000_123, "gen/1")
CONVERSATION = load("conversation").current

Writer = Callable[[Any, bytearray], None]
COMPILERS: dict[str, Callable[[Any], Writer]] = {
    "python": compile_writer,
    "native": native_writer.compile_native_writer,
}
#: Every test below runs on both writers.
both = pytest.mark.parametrize("kind", list(COMPILERS))


@cache
def writer(kind: str, name: str) -> Writer:
    schemas = {
        "conversation": CONVERSATION,
        "small": SMALL,
        "delivery": load("delivery").current,
        "node": NODE,
    }
    return COMPILERS[kind](schemas[name])


def test_the_native_writer_was_built_and_is_the_codecs() -> None:
    # This machine kind has a C compiler: a build that silently fell back to the Python writer
    # would lose the speed `voicelens produce` counts on.
    assert native_writer.AVAILABLE
    assert type(ConversationCodec()._write).__name__ == "Writer"


def specialised_bytes(writer: Any, record: Any) -> bytes:
    out = bytearray()
    writer(record, out)
    return bytes(out)


def avro_record(conversation: dict[str, Any]) -> dict[str, Any]:
    """What ConversationCodec.encode hands the writer (the envelope around the Avro custom)."""
    payload = conversation["vcp_payload"]
    custom = codec_module._custom_to_avro(payload.get("custom") or {})
    return {
        "event_id": ENV.event_id,
        "dataset_id": ENV.dataset_id,
        "index": ENV.index,
        "produced_at": ENV.produced_at_ms,
        "generator_version": ENV.generator_version,
        "conversation": {
            "call_id": conversation["call_id"],
            "vcp_version": conversation["vcp_version"],
            "vcp_payload": {**payload, "custom": custom},
        },
    }


def assert_same_without_fallback(kind: str, conversation: dict[str, Any]) -> None:
    """The specialised writer takes the record (no fallback) and writes fastavro's bytes."""
    record = avro_record(conversation)
    written = specialised_bytes(writer(kind, "conversation"), record)
    assert written == fastavro_bytes(CONVERSATION, record)


@both
def test_generated_conversations_are_written_as_fastavro_writes_them(kind: str) -> None:
    conversations = generated(300, seed=11) + generated(60, seed=5, vcp_mode="full")
    outcomes = set()
    turns = 0
    for conversation in conversations:
        custom = conversation["vcp_payload"]["custom"]
        outcomes.add(custom["outcome_hint"])
        turns += len(custom["transcript"])
        assert_same_without_fallback(kind, conversation)
    assert len(outcomes) >= 6
    assert turns > 300 * 5  # transcripts were on: the turns went through the writer


@both
def test_conversations_without_transcripts_or_optional_parts(kind: str) -> None:
    for conversation in generated(40, seed=3, transcripts=False):
        assert "transcript" not in conversation["vcp_payload"]["custom"]
        assert_same_without_fallback(kind, conversation)
    bare = copy.deepcopy(generated(1, seed=4)[0])
    payload = bare["vcp_payload"]
    # Every null branch: no custom parts, no optional VCP keys (absent, as a decoded record has).
    payload["custom"] = {}
    payload.pop("model_selection", None)
    payload.pop("hcr", None)
    for perceived in payload["outcomes"]["perceived"]:
        perceived.pop("at", None)
    metrics = payload["outcomes"]["objective"]["metrics"]
    metrics.pop("first_response_sec", None)
    metrics.pop("estimated_value_usd", None)
    payload["artifacts"] = dict.fromkeys(payload["artifacts"])
    assert_same_without_fallback(kind, bare)


@both
def test_files_as_produce_from_dir_reads_them(kind: str) -> None:
    files = sorted(EXAMPLES.glob("*.json"))
    assert len(files) == 8
    for path in files:
        doc = orjson.loads(path.read_bytes())
        assert_same_without_fallback(kind, doc)
        # A file with custom parts missing and keys of its own.
        custom = doc["vcp_payload"].setdefault("custom", {})
        custom.pop("transcript", None)
        custom.pop("region", None)
        custom["crm_ref"] = "A-17"
        custom["campaign"] = {"step": 2, "ids": [1, 2]}
        assert_same_without_fallback(kind, doc)
        del doc["vcp_payload"]["custom"]
        assert_same_without_fallback(kind, doc)


def test_the_codec_writes_fastavros_bytes_for_shapes_it_leaves_to_fastavro() -> None:
    doc = orjson.loads(next(EXAMPLES.glob("*.json")).read_bytes())
    codec = ConversationCodec()
    plain = codec.encode(ENV, doc)
    # A tuple where a list goes, and an int where a double goes inside an array of records:
    # fastavro takes both; the specialised writer falls back for the tuple.
    odd = copy.deepcopy(doc)
    criteria = odd["vcp_payload"]["call"]["purpose_contract"]["success_criteria"]
    odd["vcp_payload"]["call"]["purpose_contract"]["success_criteria"] = tuple(criteria)
    for kind in COMPILERS:
        with pytest.raises(FALLBACK_ERRORS):
            specialised_bytes(writer(kind, "conversation"), avro_record(odd))
    assert codec.encode(ENV, odd) == plain
    assert codec.encode(ENV, odd)[10:] == fastavro_bytes(CONVERSATION, avro_record(odd))


def test_what_fastavro_refuses_is_still_an_encode_error() -> None:
    doc = orjson.loads(next(EXAMPLES.glob("*.json")).read_bytes())
    doc["vcp_payload"]["call"]["duration_sec"] = "long"
    with pytest.raises(EncodeError, match="does not fit its schema"):
        ConversationCodec().encode(ENV, doc)
    doc["vcp_payload"]["call"]["duration_sec"] = 1 << 70
    with pytest.raises(EncodeError):
        ConversationCodec().encode(ENV, doc)


@both
def test_delivery_and_dataset_events_are_written_as_fastavro_writes_them(kind: str) -> None:
    event = dict(DELIVERY_EVENT)
    delivery = load("delivery").current
    assert specialised_bytes(writer(kind, "delivery"), event) == fastavro_bytes(delivery, event)
    assert DeliveryEventCodec().encode(event)[10:] == fastavro_bytes(delivery, event)
    with pytest.raises(EncodeError):
        DeliveryEventCodec().encode({**event, "outcome": "lost"})  # not an enum symbol
    dataset = DatasetEventCodec()
    record = {"dataset_id": "ds", "manifest": {"n": 1}, "updated_at_ms": 5}
    encoded = dataset.encode(record)
    assert dataset.decode(encoded)["manifest"] == {"n": 1}


# A schema with every kind the writer specialises, for values of any shape.
SMALL = parse_schema(
    {
        "type": "record",
        "name": "T",
        "namespace": "t",
        "fields": [
            {"name": "s", "type": "string"},
            {"name": "i", "type": "int"},
            {"name": "l", "type": "long"},
            {"name": "d", "type": "double"},
            {"name": "b", "type": "boolean"},
            {"name": "u", "type": ["boolean", "long", "double", "string"]},
            {"name": "n", "type": ["null", "double"], "default": None},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["a", "b"]}},
            {"name": "m", "type": {"type": "map", "values": "long"}},
            {"name": "a", "type": {"type": "array", "items": ["null", "string"]}},
            {
                "name": "r",
                "type": [
                    "null",
                    {"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]},
                ],
            },
        ],
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(1 << 66), 1 << 66),
    st.floats(allow_nan=False),
    st.text(max_size=80),
)
values = {
    "s": st.text(max_size=200),
    "i": st.integers(-(1 << 33), 1 << 33),
    "l": st.integers(-(1 << 64), 1 << 64),
    "d": st.one_of(st.floats(), st.integers(-(1 << 60), 1 << 60)),
    "b": st.booleans(),
    "u": scalars,
    "n": st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-9, 9)),
    "e": st.sampled_from(["a", "b", "c"]),
    "m": st.dictionaries(st.text(max_size=8), st.integers(-(1 << 63), (1 << 63) - 1)),
    "a": st.lists(st.one_of(st.none(), st.text(max_size=70)), max_size=70),
    "r": st.one_of(st.none(), st.fixed_dictionaries({"x": st.integers(-(1 << 32), 1 << 32)})),
}


@both
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=st.fixed_dictionaries(
        {k: v for k, v in values.items() if k not in "nr"},
        optional={"n": values["n"], "r": values["r"]},
    ),
    scalar=scalars,
    replace=st.sampled_from([None, *values]),
)
def test_any_value_is_written_as_fastavro_writes_it_or_left_to_fastavro(
    kind: str, record: dict[str, Any], scalar: Any, replace: str | None
) -> None:
    if replace is not None:
        record[replace] = scalar  # often a value of the wrong shape for its field
    try:
        expected: bytes | None = fastavro_bytes(SMALL, record)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        expected = None
    try:
        written = specialised_bytes(writer(kind, "small"), record)
    except FALLBACK_ERRORS:
        return  # the codec then writes with fastavro: its bytes or its error
    # What the specialised writer takes, fastavro takes too, to the same bytes.
    assert written == expected


@both
def test_a_record_within_itself_is_written_as_fastavro_writes_it(kind: str) -> None:
    chain = node_chain()
    assert specialised_bytes(writer(kind, "node"), chain) == fastavro_bytes(NODE, chain)
