"""Reading a directory of conversation files: the one reader of ``produce --from-dir`` and
``report --from-dir``.

A directory holds one JSON file per conversation (``voicelens generate`` output or the user's
own files, read in file-name order, which is index order for generated ones), optionally a
``manifest.json``, and optionally ``conversations.jsonl`` (JSON Lines output, read in line
order after the files). Anything else is skipped and named with the reason: a file that is not
a regular file (a FIFO would block a reader for ever), one that cannot be read, malformed
JSON, a JSON value that is not an object, an object that is no conversation at all.
Conversations come back in their canonical form (:mod:`voicelens.schemas.canonical`), so
checksums over them agree with the same data read back from Kafka.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from voicelens.producer.exceptions import InputDirectoryError
from voicelens.schemas.canonical import conform

__all__ = [
    "JSONL_NAME",
    "MANIFEST_NAME",
    "DirectoryContents",
    "Entry",
    "SkipReason",
    "Skipped",
    "read_directory",
]

log = logging.getLogger("voicelens.files")

MANIFEST_NAME = "manifest.json"
JSONL_NAME = "conversations.jsonl"
_ENVELOPE_KEYS = frozenset({"call_id", "vcp_version", "vcp_payload"})


class SkipReason(StrEnum):
    """Why a file (or a line of ``conversations.jsonl``) is not a conversation of the dataset."""

    NOT_A_REGULAR_FILE = "not a regular file"
    UNREADABLE = "cannot be read"
    MALFORMED_JSON = "malformed JSON"
    NOT_AN_OBJECT = "not a JSON object"
    NOT_A_CONVERSATION = "not a VCP conversation"
    NOT_VCP_0_3 = "not valid VCP 0.3"
    SCHEMA_MISFIT = "does not fit the conversation schema"


@dataclass(frozen=True)
class Skipped:
    """One skipped file: its name, the reason, and the particulars."""

    name: str
    reason: SkipReason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else str(self.reason)


@dataclass(frozen=True)
class Entry:
    """One conversation read from the directory: where from, its bytes, and the document."""

    name: str
    raw: bytes
    doc: dict[str, Any]


@dataclass
class DirectoryContents:
    """Conversations in dataset order, the directory's manifest (if any), what was skipped."""

    entries: list[Entry] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    skipped: list[Skipped] = field(default_factory=list)


def _read_regular(path: Path) -> bytes:
    """The file's bytes; raises OSError(ENODEV) for anything that is not a regular file.

    Opened non-blocking and checked on the open descriptor, so a FIFO (or a file swapped for
    one after a listing) is never waited on.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with contextlib.closing(os.fdopen(fd, "rb")) as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else ""
            raise OSError(errno.ENODEV, kind or "a special file")
        return fh.read()


def _classify(name: str, raw: bytes) -> Entry | Skipped:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Skipped(name, SkipReason.MALFORMED_JSON, str(exc))
    if not isinstance(doc, dict):
        return Skipped(name, SkipReason.NOT_AN_OBJECT, f"a JSON {_json_kind(doc)}")
    # An object with none of the envelope's keys is some other file (a progress file, a
    # report), not a broken conversation: skipped, not counted against validity.
    if not _ENVELOPE_KEYS & doc.keys():
        return Skipped(
            name, SkipReason.NOT_A_CONVERSATION, "none of call_id, vcp_version, vcp_payload"
        )
    return Entry(name, raw, conform(doc))


def _json_kind(doc: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(doc), "number")


def read_directory(directory: Path) -> DirectoryContents:
    """Everything in ``directory`` (see the module's docstring); raises InputDirectoryError
    when it is not a directory."""
    if not directory.is_dir():
        raise InputDirectoryError(directory)
    out = DirectoryContents()
    for path in sorted(directory.glob("*.json")):
        raw = _read(path, path.name)
        if isinstance(raw, Skipped):
            out.skipped.append(raw)
        elif path.name == MANIFEST_NAME:
            out.manifest = _manifest(raw)
            if out.manifest is None:
                out.skipped.append(Skipped(path.name, SkipReason.MALFORMED_JSON, "not a manifest"))
        else:
            _add(out, _classify(path.name, raw))
    jsonl = directory / JSONL_NAME
    if jsonl.exists():
        raw = _read(jsonl, JSONL_NAME)
        if isinstance(raw, Skipped):
            out.skipped.append(raw)
            return out
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                _add(out, _classify(f"{JSONL_NAME}:{n}", line))
    return out


def _read(path: Path, name: str) -> bytes | Skipped:
    try:
        return _read_regular(path)
    except OSError as exc:
        reason = SkipReason.NOT_A_REGULAR_FILE if exc.errno == errno.ENODEV else None
        skipped = Skipped(name, reason or SkipReason.UNREADABLE, exc.strerror or str(exc))
        log.warning("skipping %s: %s", name, skipped)
        return skipped


def _manifest(raw: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _add(out: DirectoryContents, item: Entry | Skipped) -> None:
    if isinstance(item, Entry):
        out.entries.append(item)
    else:
        out.skipped.append(item)
