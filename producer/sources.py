"""What a produce run publishes: a generated dataset, or a directory of the user's JSON files.

Both give a deterministic dataset id, a count, and conversations by index, so the publisher can
resume either from any committed index.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from voicelens.producer.generator import GENERATOR_VERSION, Dataset
from voicelens.producer.manifest import ManifestBuilder

__all__ = ["DirectorySource", "GeneratedSource", "ManifestTracker", "Source"]

log = logging.getLogger("voicelens.produce")

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
        """Conversations from index ``start`` on, in index order."""
        ...

    def manifest_tracker(self, start: int) -> ManifestTracker:
        """What builds the manifest while conversations ``start`` on stream past."""
        ...


class ManifestTracker(Protocol):
    """Takes every published conversation (with its canonical JSON); builds the manifest."""

    def add(self, conversation: dict[str, Any]) -> None:
        """One conversation, in index order."""
        ...

    def build(self) -> dict[str, Any]:
        """The dataset's manifest (counts and checksum over canonical JSON)."""
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
        """A builder that has seen conversations ``0 .. start-1`` (regenerated: a resumed run
        did not publish them, but the manifest covers the whole dataset)."""
        builder = ManifestBuilder(self.dataset)
        for conv in self.dataset.conversations(0, start):
            builder.add(conv)
        return builder


def _check(doc: Any) -> str | None:
    """Why ``doc`` is not a VCP 0.3 conversation, or None when it looks like one."""
    if not isinstance(doc, dict):
        return "not a JSON object"
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
    """The user's existing dataset: one VCP JSON file per conversation (``manifest.json`` aside).

    Malformed or invalid files are reported by name and skipped; they never stop the run.
    """

    directory: Path
    dataset_id: str = field(init=False)
    generator_version: str = field(init=False, default=f"{GENERATOR_VERSION} (from files)")
    count: int = field(init=False)
    skipped: dict[str, str] = field(init=False, default_factory=dict)
    _docs: list[tuple[str, dict[str, Any]]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        digest = hashlib.sha256()
        for path in sorted(self.directory.glob("*.json")):
            if path.name == "manifest.json":
                continue
            raw = path.read_bytes()
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                self.skipped[path.name] = f"malformed JSON: {exc}"
                continue
            problem = _check(doc)
            if problem is not None:
                self.skipped[path.name] = problem
                continue
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(raw).digest())
            self._docs.append((path.name, doc))
        for name, why in self.skipped.items():
            log.warning("skipping %s: %s", name, why)
        self.count = len(self._docs)
        self.dataset_id = "ds-files-" + digest.hexdigest()[:16]

    def skip(self, name: str, why: str) -> None:
        """Record a file found invalid later (e.g. by the Avro encoder)."""
        self.skipped[name] = why
        log.warning("skipping %s: %s", name, why)

    def named_conversations(self, start: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """(file name, conversation) from index ``start``."""
        return iter(self._docs[start:])

    def conversations(self, start: int) -> Iterator[dict[str, Any]]:
        """Conversations from index ``start``."""
        return (doc for _, doc in self._docs[start:])

    def manifest_tracker(self, start: int) -> _FilesManifest:
        """The files are all in memory: their manifest is computed at the end, from them."""
        return _FilesManifest(self)

    def manifest(self) -> dict[str, Any]:
        """Counts of the valid files and the skipped ones."""
        scenarios: dict[str, int] = {}
        providers: dict[str, int] = {}
        days: dict[str, int] = {}
        digest = hashlib.sha256()
        for _, doc in self._docs:
            payload = doc["vcp_payload"]
            hint = str(payload["custom"].get("outcome_hint", "unknown"))
            scenarios[hint] = scenarios.get(hint, 0) + 1
            prov = str(payload["call"].get("provider", "unknown"))
            providers[prov] = providers.get(prov, 0) + 1
            day = str(payload["call"].get("start_time", ""))[:10]
            days[day] = days.get(day, 0) + 1
            digest.update(orjson.dumps(doc))
        return {
            "dataset_id": self.dataset_id,
            "generator_version": self.generator_version,
            "source_directory": self.directory.name,
            "count": self.count,
            "counts": {
                "scenario": dict(sorted(scenarios.items())),
                "provider": dict(sorted(providers.items())),
                "day": dict(sorted(days.items())),
            },
            "skipped_files": dict(sorted(self.skipped.items())),
            "checksum": {"algorithm": "sha256", "value": digest.hexdigest()},
        }


@dataclass
class _FilesManifest:
    source: DirectorySource

    def add(self, conversation: dict[str, Any]) -> None:
        """Nothing to do per conversation: the manifest is computed from the files."""

    def build(self) -> dict[str, Any]:
        """The files' manifest."""
        return self.source.manifest()
