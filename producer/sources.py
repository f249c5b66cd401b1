"""What a produce run publishes: a generated dataset, or a directory of the user's JSON files.

Both give a deterministic dataset id, a count, and conversations by index in their canonical
form (:mod:`voicelens.schemas.canonical`: the generator writes it, the directory reader
conforms files to it), so the publisher can resume either from any committed index and the
manifest's checksum agrees with the records read back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from voicelens.producer.directory import Skipped, SkipReason, read_directory
from voicelens.producer.generator import GENERATOR_VERSION, Dataset
from voicelens.producer.manifest import ManifestBuilder
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.schemas.exceptions import EncodeError

__all__ = ["DirectorySource", "GeneratedSource", "Source"]

_REQUIRED = ("call", "outcomes", "artifacts", "custom", "audit")


class Source(Protocol):
    """A dataset to publish."""

    @property
    def dataset_id(self) -> str:
        """Deterministic id of the dataset."""
        ...

    @property
    def generator_version(self) -> str:
        """What made the data."""
        ...

    @property
    def count(self) -> int:
        """Conversations in the dataset."""
        ...

    def conversations(self, start: int) -> Iterator[dict[str, Any]]:
        """Conversations from index ``start`` on, in index order, in canonical form."""
        ...

    def manifest_tracker(self, start: int) -> ManifestBuilder:
        """A manifest builder that has seen conversations ``0 .. start-1``: a resumed run did
        not publish them, but the manifest covers the whole dataset."""
        ...


@dataclass
class GeneratedSource:
    """A dataset from the generator."""

    dataset: Dataset

    @property
    def dataset_id(self) -> str:
        return self.dataset.dataset_id

    @property
    def generator_version(self) -> str:
        return self.dataset.generator_version

    @property
    def count(self) -> int:
        return self.dataset.count

    def conversations(self, start: int) -> Iterator[dict[str, Any]]:
        """Generated conversations from ``start``."""
        return self.dataset.conversations(start)

    def manifest(self) -> dict[str, Any]:
        """The whole dataset's manifest (regenerated)."""
        return self.manifest_tracker(self.count).build()

    def manifest_tracker(self, start: int) -> ManifestBuilder:
        """A builder that has seen the regenerated conversations ``0 .. start-1``."""
        builder = ManifestBuilder.for_dataset(self.dataset)
        for conv in self.dataset.conversations(0, start):
            builder.add(conv)
        return builder


def _check(doc: dict[str, Any]) -> str | None:
    """Why ``doc`` is not a VCP 0.3 conversation, or None when it looks like one."""
    if doc.get("vcp_version") != "0.3":
        return f"vcp_version is {doc.get('vcp_version')!r}, not '0.3'"
    payload = doc.get("vcp_payload")
    if not isinstance(payload, dict):
        return "vcp_payload missing"
    missing = [k for k in _REQUIRED if not isinstance(payload.get(k), dict)]
    if missing:
        return f"vcp_payload lacks {', '.join(missing)}"
    call_id = doc.get("call_id")
    if not isinstance(call_id, str) or payload["call"].get("call_id") != call_id:
        return "call_id missing or different from vcp_payload.call.call_id"
    return None


@dataclass
class DirectorySource:
    """The user's existing dataset: one VCP JSON file per conversation (or JSON Lines).

    Every file is checked up front, down to the Avro encoding, so the dataset (its id, count
    and manifest) is exactly what will be published; the rest is in ``skipped``, by name.
    """

    directory: Path
    dataset_id: str = field(init=False)
    generator_version: str = field(init=False, default=f"{GENERATOR_VERSION} (from files)")
    count: int = field(init=False)
    skipped: list[Skipped] = field(init=False, default_factory=list)
    #: Files (or JSON Lines) found in the directory, valid or not.
    seen: int = field(init=False, default=0)
    _docs: list[tuple[str, dict[str, Any]]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        contents = read_directory(self.directory)
        self.skipped = list(contents.skipped)
        codec = ConversationCodec()
        probe = ConversationEnvelope("probe", "probe", 0, 0, self.generator_version)
        digest = hashlib.sha256()
        for entry in contents.entries:
            problem = _check(entry.doc)
            if problem is not None:
                self.skipped.append(Skipped(entry.name, SkipReason.NOT_VCP_0_3, problem))
                continue
            try:
                codec.encode(probe, entry.doc)
            except EncodeError as exc:
                self.skipped.append(Skipped(entry.name, SkipReason.SCHEMA_MISFIT, str(exc)))
                continue
            digest.update(entry.name.encode() + b"\0" + hashlib.sha256(entry.raw).digest())
            self._docs.append((entry.name, entry.doc))
        self.skipped.sort(key=lambda s: s.name)
        self.seen = len(contents.entries) + len(contents.skipped)
        self.count = len(self._docs)
        self.dataset_id = "ds-files-" + digest.hexdigest()[:16]

    def conversations(self, start: int) -> Iterator[dict[str, Any]]:
        """Conversations from index ``start``."""
        return (doc for _, doc in self._docs[start:])

    def manifest_tracker(self, start: int) -> ManifestBuilder:
        """A builder that has seen the files ``0 .. start-1``."""
        builder = ManifestBuilder(
            {
                "dataset_id": self.dataset_id,
                "generator_version": self.generator_version,
                "source_directory": self.directory.name,
                "files": [name for name, _ in self._docs],
                "skipped_files": {s.name: str(s) for s in self.skipped},
            }
        )
        for _, doc in self._docs[:start]:
            builder.add(doc)
        return builder

    def manifest(self) -> dict[str, Any]:
        """The manifest of everything that publishing this source puts on the topic."""
        return self.manifest_tracker(self.count).build()
