"""What a report is about, rebuilt from the topics alone (or from a directory of files).

From Kafka: the conversations topic gives every dataset's records (the envelope says which
dataset and which index), the datasets topic the manifests, the deliveries topic one event per
finished record, and the dead-letter topic the records that could not be delivered. Nothing
else — no side files — so any machine with access to the topics can rebuild the same report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from voicelens.report.exceptions import DatasetNotFoundError, ReportError
from voicelens.report.readers import read_directory, read_topic
from voicelens.schemas.codec import (
    ConversationCodec,
    DatasetEventCodec,
    DeliveryEventCodec,
    WriterLookup,
)
from voicelens.schemas.dead_letters import DeadLetterFacts
from voicelens.schemas.exceptions import DecodeError
from voicelens.settings import KafkaSettings

__all__ = ["Loaded", "TopicNames", "from_directory", "from_topics"]

log = logging.getLogger("voicelens.report")


@dataclass(frozen=True)
class TopicNames:
    """Where the report reads from, and which deliveries count."""

    conversations: str
    datasets: str
    deliveries: str
    dead_letters: str
    dataset_id: str | None = None
    group: str | None = None


@dataclass
class Loaded:
    """One dataset's conversations (in index order), its manifest, and what happened to it."""

    source: str
    dataset_id: str | None
    manifest: dict[str, Any] | None
    conversations: list[dict[str, Any]]
    skipped: dict[str, str] = field(default_factory=dict)
    copies: int = 0  # records seen more than once on the topic (e.g. replayed dead letters)
    events: list[dict[str, Any]] | None = None
    dead_letters: list[dict[str, Any]] | None = None


def from_directory(directory: Path) -> Loaded:
    """A dataset of files (``voicelens generate`` output or the user's own files)."""
    contents = read_directory(directory)
    manifest = contents.manifest
    dataset_id = manifest.get("dataset_id") if manifest else None
    conversations = [entry.doc for entry in contents.entries]
    skipped = {s.name: str(s) for s in contents.skipped}
    return Loaded("directory", dataset_id, manifest, conversations, skipped)


def _conversations(
    settings: KafkaSettings, topic: str, codec: ConversationCodec
) -> tuple[dict[str, dict[int, dict[str, Any]]], dict[str, int], int]:
    """By dataset: {index: conversation}; newest produce time per dataset; extra copies."""
    by_dataset: dict[str, dict[int, dict[str, Any]]] = {}
    produced: dict[str, int] = {}
    copies = 0

    def decode(m: Message) -> tuple[Any, dict[str, Any]] | None:
        try:
            return codec.decode(m.value() or b"")
        except DecodeError:
            return None  # poison records are the deliveries' business, not the dataset's

    for envelope, conversation in read_topic(settings, topic, decode):
        records = by_dataset.setdefault(envelope.dataset_id, {})
        if envelope.index in records:
            copies += 1
            continue
        records[envelope.index] = conversation
        produced[envelope.dataset_id] = max(
            produced.get(envelope.dataset_id, 0), envelope.produced_at_ms
        )
    return by_dataset, produced, copies


def _manifests(settings: KafkaSettings, topic: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """(updated at, manifest) of each dataset's newest manifest on the datasets topic."""
    codec = DatasetEventCodec()
    newest: dict[str, tuple[int, dict[str, Any]]] = {}

    def decode(m: Message) -> dict[str, Any] | None:
        try:
            event = codec.decode(m.value() or b"")
        except DecodeError:
            return None
        return event if event["kind"] == "manifest" else None

    for event in read_topic(settings, topic, decode):
        held = newest.get(event["dataset_id"])
        if held is None or event["updated_at_ms"] >= held[0]:
            newest[event["dataset_id"]] = (event["updated_at_ms"], dict(event["manifest"]))
    return newest


def _choose(
    names: TopicNames,
    on_topic: dict[str, int],
    manifests: dict[str, tuple[int, dict[str, Any]]],
) -> str:
    """The requested dataset, or the one with the newest manifest (else the newest records)."""
    if names.dataset_id is not None:
        if names.dataset_id not in on_topic:
            msg = (
                f"dataset {names.dataset_id} (--dataset-id) has no conversations "
                f"on {names.conversations!r}"
            )
            raise DatasetNotFoundError(msg)
        return names.dataset_id
    if not on_topic:
        msg = f"no conversations on {names.conversations!r} (--topic)"
        raise ReportError(msg)
    with_manifest = [d for d in on_topic if d in manifests]
    if with_manifest:
        return max(with_manifest, key=lambda d: manifests[d][0])
    return max(on_topic, key=lambda d: on_topic[d])


def _dead_letter(m: Message, codec: ConversationCodec) -> dict[str, Any]:
    facts = DeadLetterFacts.from_headers(m.headers())
    dataset_id: str | None = None
    call_id: str | None = None
    try:
        envelope, conversation = codec.decode(m.value() or b"")
        dataset_id, call_id = envelope.dataset_id, conversation["call_id"]
    except (DecodeError, KeyError):
        pass  # an undecodable record dead-lettered as such: it belongs to no dataset
    return {
        "dataset_id": dataset_id,
        "call_id": call_id,
        "reason": "unknown" if facts.reason is None else facts.reason.value,
        "attempts": facts.attempts,
        "last_status": facts.last_status,
        "source_topic": facts.source_topic,
    }


def from_topics(
    settings: KafkaSettings, names: TopicNames, lookup: WriterLookup | None = None
) -> Loaded:
    """Rebuild one dataset and its delivery history from the four topics.

    ``lookup``: the schema registry's, to read Confluent wire-format conversations.
    """
    codec = ConversationCodec(lookup=lookup)
    by_dataset, produced, copies = _conversations(settings, names.conversations, codec)
    manifests = _manifests(settings, names.datasets)
    dataset_id = _choose(names, produced, manifests)
    manifest = manifests[dataset_id][1] if dataset_id in manifests else None
    if manifest is None:
        log.warning("no manifest for dataset %s on %s", dataset_id, names.datasets)
    records = by_dataset[dataset_id]
    conversations = [records[i] for i in sorted(records)]

    def ours(dataset: str | None, topic: str | None) -> bool:
        # Undecodable records (no dataset) of this topic are reported apart, not dropped.
        return dataset == dataset_id or (dataset is None and topic == names.conversations)

    events_codec = DeliveryEventCodec()

    def decode_event(m: Message) -> dict[str, Any] | None:
        try:
            event = events_codec.decode(m.value() or b"")
        except DecodeError:
            return None
        if event["topic"] != names.conversations or not ours(event["dataset_id"], event["topic"]):
            return None
        record: dict[str, Any] = dict(event)
        return record if names.group is None or event["group"] == names.group else None

    events = list(read_topic(settings, names.deliveries, decode_event))
    dead = None
    if names.group is None:
        # The dead-letter topic is shared by every group: with --group it cannot be split.
        dead = [
            d
            for d in read_topic(settings, names.dead_letters, lambda m: _dead_letter(m, codec))
            if ours(d["dataset_id"], d["source_topic"])
        ]
    return Loaded(
        "topics",
        dataset_id,
        manifest,
        conversations,
        copies=copies,
        events=events,
        dead_letters=dead,
    )
