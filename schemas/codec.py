"""Encoding and decoding VoiceLens events as Avro, in either of the two framings readers meet.

- **Single-object encoding** (``C3 01`` + the writer schema's 8-byte fingerprint + the body),
  the default: readable with no registry, every committed writer version known from
  ``schemas/history``.
- **Confluent wire format** (``00`` + a 4-byte big-endian schema id + the body), written by
  ``produce --schema-registry-url``: what Kafka Connect, ksqlDB, Flink and confluent-kafka's
  ``AvroDeserializer`` read. Ids come from the schema registry; a reader looks each new id up
  once and keeps its schema.

Readers tell the two apart by the first byte, so one topic may hold both. The body must be all
of the value: bytes left after the record make it undecodable.

Conversation events carry the exact VCP 0.3 JSON: ``decode(encode(env, payload))`` returns a
payload equal to the one given, key order included. Two conventions make that exact:
optional VCP keys that are absent travel as ``null`` and come back absent, and the free-form
parts of ``custom`` (``provider_specific`` and any extra keys) travel as JSON text, while its
conversation parts (transcript, language, region, journey, satisfaction, commitment) are typed
Avro, so stream processors read a turn's text without parsing JSON.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, cast

import orjson
from fastavro import schemaless_reader, schemaless_writer

from voicelens.schemas.delivery_event import DeliveryEventRecord
from voicelens.schemas.exceptions import DecodeError, EncodeError, UnknownSchemaError
from voicelens.schemas.fingerprint import MARKER, fingerprint_bytes
from voicelens.schemas.native_reader import compile_native_reader
from voicelens.schemas.native_writer import compile_native_writer
from voicelens.schemas.reader import READ_FALLBACK_ERRORS, compile_reader
from voicelens.schemas.registry import SchemaSet, load
from voicelens.schemas.writer import FALLBACK_ERRORS, compile_writer

__all__ = [
    "WIRE_MAGIC",
    "ConversationCodec",
    "ConversationEnvelope",
    "DatasetEventCodec",
    "DeliveryEventCodec",
    "Encoding",
    "WriterLookup",
    "encoding_of",
]

_CUSTOM_SCALARS = ("outcome_hint", "synthetic", "synthetic_recipe")
# Typed parts of ``custom`` (schema v002 on), in the order the generator writes them, so a
# decoded conversation has its keys in the order it was encoded with.
_CUSTOM_TYPED = ("transcript", "language", "region", "journey", "satisfaction", "commitment")
_CUSTOM_OPTIONAL = (*_CUSTOM_SCALARS, *_CUSTOM_TYPED)
_CUSTOM_KNOWN = ("provider_specific", *_CUSTOM_OPTIONAL)
_HEADER = 10
#: The Confluent wire format's first byte; a 4-byte big-endian schema id follows.
WIRE_MAGIC = b"\x00"
_WIRE_HEADER = 5
_NO_REGISTRY = (
    "no schema registry is configured to look it up "
    "(--schema-registry-url / VOICELENS_SCHEMA_REGISTRY_URL)"
)

#: Looks a registry schema id up: the parsed writer schema, None when the registry lacks it.
WriterLookup = Callable[[int], Any]


class Encoding(StrEnum):
    """How a value is framed, told by its first byte."""

    SINGLE_OBJECT = "single_object"
    CONFLUENT_WIRE = "confluent_wire"


def encoding_of(data: bytes) -> Encoding | None:
    """The framing ``data`` starts with; None when it is neither."""
    if data[:2] == MARKER:
        return Encoding.SINGLE_OBJECT
    if data[:1] == WIRE_MAGIC:
        return Encoding.CONFLUENT_WIRE
    return None


@dataclass(frozen=True, slots=True)
class ConversationEnvelope:
    """What the event adds around a conversation."""

    event_id: str
    dataset_id: str
    index: int
    produced_at_ms: int
    generator_version: str


class _Codec:
    """One record kind: writes one framing, reads both and every known writer version.

    ``schema_id``: write the Confluent wire format with this registry id (the id of the
    current schema); unset, single-object encoding. ``lookup``: how to learn a registry id this
    codec has not seen (``SchemaRegistry.writer_schema``); unset, wire-format records are
    undecodable.
    """

    def __init__(
        self, name: str, *, schema_id: int | None = None, lookup: WriterLookup | None = None
    ) -> None:
        self._set: SchemaSet = load(name)
        if schema_id is None:
            self._header = MARKER + self._set.current_fingerprint
        else:
            self._header = WIRE_MAGIC + schema_id.to_bytes(4, "big")
        self._lookup = lookup
        self._write = _specialised_writer(name)
        self._read = _specialised_reader(name)
        # Registry ids seen so far: the writer schema, or None for an id the registry lacks.
        # A producer registers a schema before writing with its id, so an id unknown once
        # stays unknown; no record is refused that a later lookup would have decoded.
        self._by_id: dict[int, Any] = {} if schema_id is None else {schema_id: self._set.current}

    @property
    def encoding(self) -> Encoding:
        """The framing :meth:`_encode` writes."""
        return Encoding.SINGLE_OBJECT if self._header[:2] == MARKER else Encoding.CONFLUENT_WIRE

    def unresolved_id(self, data: bytes) -> int | None:
        """The registry id ``data`` needs looked up before it can be decoded, if any."""
        if data[:1] != WIRE_MAGIC or len(data) < _WIRE_HEADER or self._lookup is None:
            return None
        schema_id = int.from_bytes(data[1:_WIRE_HEADER], "big")
        return None if schema_id in self._by_id else schema_id

    def lookup(self, schema_id: int) -> Any:
        """Ask the registry for ``schema_id`` (blocking, keeps nothing; see :meth:`learn`)."""
        if self._lookup is None:
            return None
        writer = self._lookup(schema_id)
        # A registered copy of a schema this codec knows reads as that one: no resolution step.
        return None if writer is None else self._set.writers.get(fingerprint_bytes(writer), writer)

    def learn(self, schema_id: int, writer: Any) -> None:
        """Remember what :meth:`lookup` said about ``schema_id``."""
        self._by_id[schema_id] = writer

    def resolve(self, data: bytes) -> None:
        """Look up ``data``'s registry id now if it is new (blocking: not on an event loop)."""
        schema_id = self.unresolved_id(data)
        if schema_id is not None:
            self.learn(schema_id, self.lookup(schema_id))

    def _encode(self, record: dict[str, Any]) -> bytes:
        if self._write is not None:
            out = bytearray(self._header)
            try:
                self._write(record, out)
            except FALLBACK_ERRORS:
                pass  # not in the plain shape: fastavro writes it, or says what is wrong
            else:
                return bytes(out)
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            schemaless_writer(buf, self._set.current, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            msg = f"{self._set.name} record does not fit its schema: {exc}"
            raise EncodeError(msg) from exc
        return buf.getvalue()

    def _writer(self, data: bytes) -> tuple[Any, int]:
        """The writer schema of ``data`` and where its body starts."""
        name = self._set.name
        if data[:2] == MARKER:
            if len(data) < _HEADER:
                raise DecodeError(f"truncated single-object encoded {name} record")
            writer = self._set.writers.get(bytes(data[2:_HEADER]))
            if writer is None:
                msg = f"unknown writer schema fingerprint {data[2:_HEADER].hex()} for {name}"
                raise DecodeError(msg)
            return writer, _HEADER
        if data[:1] == WIRE_MAGIC:
            if len(data) < _WIRE_HEADER:
                raise DecodeError(f"truncated Confluent wire-format {name} record")
            schema_id = int.from_bytes(data[1:_WIRE_HEADER], "big")
            if schema_id not in self._by_id:
                if self._lookup is None:
                    raise DecodeError(f"{name} record with schema id {schema_id}: {_NO_REGISTRY}")
                self.resolve(data)
            writer = self._by_id[schema_id]
            if writer is None:
                raise UnknownSchemaError(schema_id, name)
            return writer, _WIRE_HEADER
        msg = (
            f"not an Avro {name} record: first byte {data[:1].hex() or 'none'} is neither "
            "C3 (single-object encoding) nor 00 (Confluent wire format)"
        )
        raise DecodeError(msg)

    def _decode(self, data: bytes) -> dict[str, Any]:
        writer, start = self._writer(data)
        if writer is self._set.current and self._read is not None and data.__class__ is bytes:
            try:
                record, end = self._read(data, start)
            except READ_FALLBACK_ERRORS:
                pass  # not in the canonical form: fastavro reads it, or says what is wrong
            else:
                if end == len(data):
                    return cast("dict[str, Any]", record)
        reader = None if writer is self._set.current else self._set.current
        buf = io.BytesIO(data)
        buf.seek(start)
        try:
            record = schemaless_reader(buf, writer, reader)
        except Exception as exc:  # fastavro raises many kinds on corrupt input
            msg = f"corrupt {self._set.name} record: {type(exc).__name__}: {exc}"
            raise DecodeError(msg) from exc
        if not isinstance(record, dict):
            msg = f"corrupt {self._set.name} record"
            raise DecodeError(msg)
        left = len(data) - buf.tell()
        if left:
            msg = f"corrupt {self._set.name} record: {left} bytes after the record"
            raise DecodeError(msg)
        return record


@cache
def _specialised_writer(name: str) -> Callable[[Any, bytearray], None] | None:
    """The current ``name`` schema's specialised writer, compiled once per process: the native
    one (schemas/native_writer.py) where it was built, else the Python one (schemas/writer.py);
    None when the schema uses a type neither specialises: fastavro alone then."""
    schema = load(name).current
    try:
        return compile_native_writer(schema)
    except NotImplementedError:
        pass
    try:
        return compile_writer(schema)
    except NotImplementedError:
        return None


@cache
def _specialised_reader(name: str) -> Callable[[bytes, int], tuple[Any, int]] | None:
    """The current ``name`` schema's specialised reader, compiled once per process: the native
    one (schemas/native_reader.py) where it was built, else the Python one (schemas/reader.py);
    None when the schema uses a type neither specialises: fastavro alone then. Records written
    with an older schema version are read by fastavro, which resolves them."""
    schema = load(name).current
    try:
        return compile_native_reader(schema)
    except NotImplementedError:
        pass
    try:
        return compile_reader(schema)
    except NotImplementedError:
        return None


def _drop_none(d: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if d.get(key, 0) is None:
            del d[key]


class ConversationCodec(_Codec):
    """``vcp.conversations`` values: envelope + the VCP 0.3 conversation."""

    def __init__(self, *, schema_id: int | None = None, lookup: WriterLookup | None = None) -> None:
        super().__init__("conversation", schema_id=schema_id, lookup=lookup)

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
        try:
            _restore(conversation["vcp_payload"])
        except orjson.JSONDecodeError as exc:
            msg = f"corrupt conversation record: a JSON-text field is not JSON: {exc}"
            raise DecodeError(msg) from exc
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
    # A record from writer v001 resolves the typed ones to their null defaults: absent.
    for key in _CUSTOM_OPTIONAL:
        value = avro_custom[key]
        if value is not None:
            custom[key] = value
    for turn in custom.get("transcript") or ():
        if turn["lang"] is None:  # inline: ~10 turns a call, on deliver's path
            del turn["lang"]
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

    def encode(self, event: DeliveryEventRecord) -> bytes:
        """Encode a delivery outcome (see schemas/delivery.avsc for the fields)."""
        return self._encode(dict(event))

    def decode(self, data: bytes) -> DeliveryEventRecord:
        """Decode a delivery outcome; times as epoch milliseconds."""
        record = self._decode(data)
        for key in ("first_attempt_at_ms", "finished_at_ms"):
            record[key] = _millis(record[key])
        return cast("DeliveryEventRecord", record)


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
        try:
            manifest = orjson.loads(record["manifest_json"])
        except orjson.JSONDecodeError as exc:
            msg = f"corrupt dataset record: manifest_json is not JSON: {exc}"
            raise DecodeError(msg) from exc
        return {
            "dataset_id": record["dataset_id"],
            "kind": record["kind"],
            "produced_through": record["produced_through"],
            "manifest": manifest,
            "updated_at_ms": _millis(record["updated_at"]),
        }
