"""Encoding and decoding VoiceLens events as Avro single-object-encoded bytes.

Conversation events carry the exact VCP 0.3 JSON: ``decode(encode(env, payload))`` returns a
payload equal to the one given, key order included. Two conventions make that exact:
optional VCP keys that are absent travel as ``null`` and come back absent, and the free-form
parts of ``custom`` (``provider_specific`` and any extra keys) travel as JSON text, while its
conversation parts (transcript, language, region, journey, satisfaction, commitment) are typed
Avro, so stream processors read a turn's text without parsing JSON.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import orjson
from fastavro import schemaless_reader, schemaless_writer

from voicelens.schemas.exceptions import DecodeError, EncodeError
from voicelens.schemas.fingerprint import MARKER
from voicelens.schemas.registry import SchemaSet, load

__all__ = [
    "ConversationCodec",
    "ConversationEnvelope",
    "DatasetEventCodec",
    "DeliveryEventCodec",
]

_CUSTOM_SCALARS = ("outcome_hint", "synthetic", "synthetic_recipe")
# Typed parts of ``custom`` (schema v002 on), in the order the generator writes them, so a
# decoded conversation has its keys in the order it was encoded with.
_CUSTOM_TYPED = ("transcript", "language", "region", "journey", "satisfaction", "commitment")
_CUSTOM_KNOWN = ("provider_specific", *_CUSTOM_SCALARS, *_CUSTOM_TYPED)
_HEADER = 10


@dataclass(frozen=True, slots=True)
class ConversationEnvelope:
    """What the event adds around a conversation."""

    event_id: str
    dataset_id: str
    index: int
    produced_at_ms: int
    generator_version: str


class _Codec:
    """Single-object encoding of one record kind, reading every known writer version."""

    def __init__(self, name: str) -> None:
        self._set: SchemaSet = load(name)
        self._header = MARKER + self._set.current_fingerprint

    def _encode(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            schemaless_writer(buf, self._set.current, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            msg = f"{self._set.name} record does not fit its schema: {exc}"
            raise EncodeError(msg) from exc
        return buf.getvalue()

    def _decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < _HEADER or data[:2] != MARKER:
            msg = f"not an Avro single-object encoded {self._set.name} record (bad marker)"
            raise DecodeError(msg)
        writer = self._set.writers.get(bytes(data[2:_HEADER]))
        if writer is None:
            msg = f"unknown writer schema fingerprint {data[2:_HEADER].hex()} for {self._set.name}"
            raise DecodeError(msg)
        reader = None if writer is self._set.current else self._set.current
        try:
            record = schemaless_reader(io.BytesIO(data[_HEADER:]), writer, reader)
        except Exception as exc:  # fastavro raises many kinds on corrupt input
            msg = f"corrupt {self._set.name} record: {type(exc).__name__}: {exc}"
            raise DecodeError(msg) from exc
        if not isinstance(record, dict):
            msg = f"corrupt {self._set.name} record"
            raise DecodeError(msg)
        return record


def _drop_none(d: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if d.get(key, 0) is None:
            del d[key]


class ConversationCodec(_Codec):
    """``vcp.conversations`` values: envelope + the VCP 0.3 conversation."""

    def __init__(self) -> None:
        super().__init__("conversation")

    def encode(self, envelope: ConversationEnvelope, conversation: dict[str, Any]) -> bytes:
        """Encode one conversation (the VCP JSON object with call_id, vcp_version, vcp_payload)."""
        try:
            payload = conversation["vcp_payload"]
            custom = payload.get("custom") or {}
            record = {
                "event_id": envelope.event_id,
                "dataset_id": envelope.dataset_id,
                "index": envelope.index,
                "produced_at": envelope.produced_at_ms,
                "generator_version": envelope.generator_version,
                "conversation": {
                    "call_id": conversation["call_id"],
                    "vcp_version": conversation["vcp_version"],
                    "vcp_payload": {**payload, "custom": _custom_to_avro(custom)},
                },
            }
        except (KeyError, TypeError, AttributeError) as exc:
            msg = f"not a VCP 0.3 conversation: missing or malformed {exc}"
            raise EncodeError(msg) from exc
        return self._encode(record)

    def decode(self, data: bytes) -> tuple[ConversationEnvelope, dict[str, Any]]:
        """Decode to (envelope, the VCP JSON object exactly as it was encoded)."""
        record = self._decode(data)
        produced = record["produced_at"]
        produced_ms = produced if isinstance(produced, int) else int(produced.timestamp() * 1000)
        envelope = ConversationEnvelope(
            record["event_id"],
            record["dataset_id"],
            record["index"],
            produced_ms,
            record["generator_version"],
        )
        conversation = record["conversation"]
        _restore(conversation["vcp_payload"])
        return envelope, conversation


def _custom_to_avro(custom: dict[str, Any]) -> dict[str, Any]:
    ps = custom.get("provider_specific")
    get = custom.get
    # Turns travel as they are: a turn without ``lang`` takes the schema's null default.
    return {
        "provider_specific_json": None if ps is None else orjson.dumps(ps).decode(),
        "outcome_hint": get("outcome_hint"),
        "synthetic": get("synthetic"),
        "synthetic_recipe": get("synthetic_recipe"),
        "transcript": get("transcript"),
        "language": get("language"),
        "region": get("region"),
        "journey": get("journey"),
        "satisfaction": get("satisfaction"),
        "commitment": get("commitment"),
        "extra_json": {
            k: orjson.dumps(v).decode() for k, v in custom.items() if k not in _CUSTOM_KNOWN
        },
    }


def _restore(payload: dict[str, Any]) -> None:
    """Undo the Avro conventions in place: nulls that mean 'absent', JSON-text fields."""
    for perceived in payload["outcomes"]["perceived"]:
        _drop_none(perceived, "at")
    _drop_none(
        payload["outcomes"]["objective"]["metrics"], "first_response_sec", "estimated_value_usd"
    )
    for driver in payload["outcomes"]["perception_gap"]["drivers"]:
        _drop_none(driver, "note")
    avro_custom = payload["custom"]
    custom: dict[str, Any] = {}
    ps = avro_custom["provider_specific_json"]
    if ps is not None:
        custom["provider_specific"] = orjson.loads(ps)
    for key in _CUSTOM_SCALARS:
        if avro_custom[key] is not None:
            custom[key] = avro_custom[key]
    # A record from writer v001 resolves these to their null defaults: absent.
    for key in _CUSTOM_TYPED:
        value = avro_custom[key]
        if value is not None:
            custom[key] = value
    for turn in custom.get("transcript") or ():
        _drop_none(turn, "lang")
    for key, text in avro_custom["extra_json"].items():
        custom[key] = orjson.loads(text)
    payload["custom"] = custom
    _drop_none(payload, "model_selection", "hcr")
    selection = payload.get("model_selection")
    if selection is not None:
        _drop_none(selection["roles"], "V2V", "LLM", "STT", "TTS")
    hcr = payload.get("hcr")
    if hcr is not None:
        _drop_none(hcr["impact_metrics"], "estimated_value_usd")


def _millis(value: Any) -> int:
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


class DeliveryEventCodec(_Codec):
    """``vcp.deliveries`` values: one per finished record."""

    def __init__(self) -> None:
        super().__init__("delivery")

    def encode(self, event: dict[str, Any]) -> bytes:
        """Encode a delivery outcome (see schemas/delivery.avsc for the fields)."""
        return self._encode(event)

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode a delivery outcome; times as epoch milliseconds."""
        record = self._decode(data)
        for key in ("first_attempt_at_ms", "finished_at_ms"):
            record[key] = _millis(record[key])
        return record


class DatasetEventCodec(_Codec):
    """``vcp.datasets`` values: a dataset's manifest, or producer progress."""

    def __init__(self) -> None:
        super().__init__("dataset")

    def encode(self, event: dict[str, Any]) -> bytes:
        """Encode; ``event["manifest"]`` (a dict) travels as JSON text."""
        record = {
            "dataset_id": event["dataset_id"],
            "kind": event.get("kind", "manifest"),
            "produced_through": event.get("produced_through"),
            "manifest_json": orjson.dumps(event.get("manifest") or {}).decode(),
            "updated_at": event["updated_at_ms"],
        }
        return self._encode(record)

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode to {dataset_id, kind, produced_through, manifest, updated_at_ms}."""
        record = self._decode(data)
        return {
            "dataset_id": record["dataset_id"],
            "kind": record["kind"],
            "produced_through": record["produced_through"],
            "manifest": orjson.loads(record["manifest_json"]),
            "updated_at_ms": _millis(record["updated_at"]),
        }
