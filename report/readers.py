"""Where a report's records come from: topics (:func:`voicelens.kafka.read_topic`, re-exported
here) or a directory of the user's JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from voicelens.kafka.reader import read_topic
from voicelens.report.exceptions import ReportError

__all__ = ["read_directory", "read_topic"]


def _looks_like_conversation(doc: Any) -> bool:
    # Anything with none of the envelope's keys is some other file (a progress file, a report),
    # not a broken conversation: it is listed as skipped rather than failing validity.
    return isinstance(doc, dict) and bool({"call_id", "vcp_version", "vcp_payload"} & doc.keys())


def read_directory(
    directory: Path,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, str]]:
    """(conversations in file-name order, manifest or None, skipped files by name, with why).

    The files of ``voicelens generate`` are named by index, so file-name order is dataset order;
    ``conversations.jsonl`` (JSON Lines output) is read in line order after them.
    """
    if not directory.is_dir():
        msg = f"{directory} is not a directory (--from-dir)"
        raise ReportError(msg)
    conversations: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    manifest = None
    for path in sorted(directory.glob("*.json")):
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            skipped[path.name] = f"malformed JSON: {exc}"
            continue
        if path.name == "manifest.json":
            manifest = doc if isinstance(doc, dict) else None
        elif _looks_like_conversation(doc):
            conversations.append(doc)
        else:
            skipped[path.name] = "not a VCP conversation"
    jsonl = directory / "conversations.jsonl"
    if jsonl.exists():
        for n, line in enumerate(jsonl.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                skipped[f"conversations.jsonl:{n}"] = f"malformed JSON: {exc}"
                continue
            if _looks_like_conversation(doc):
                conversations.append(doc)
            else:
                skipped[f"conversations.jsonl:{n}"] = "not a VCP conversation"
    return conversations, manifest, skipped
