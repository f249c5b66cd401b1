"""Writing a dataset as files: one JSON file per conversation (the user's format) or JSON Lines.

Streaming with flat memory: conversations are generated a block at a time and written as they
come; only the counters of the manifest grow, and only with the number of distinct days.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson
from rich.progress import Progress

from voicelens.logs import terminal_console
from voicelens.producer.generator import Dataset
from voicelens.producer.manifest import ManifestBuilder

__all__ = ["file_name", "write_dataset"]

_JSON_OPTS = orjson.OPT_INDENT_2


def file_name(index: int, conversation: dict[str, Any]) -> str:
    """``hvac_00001_booked_service_retell.json`` (1-based, zero-padded like the user's files)."""
    payload = conversation["vcp_payload"]
    return (
        f"hvac_{index + 1:05d}_{payload['custom']['outcome_hint']}_"
        f"{payload['call']['provider']}.json"
    )


def write_dataset(
    dataset: Dataset,
    out: Path | Literal["-"],
    fmt: Literal["json", "jsonl"],
    *,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Write every conversation and return the manifest (also written unless ``out`` is ``-``)."""
    manifest = ManifestBuilder.for_dataset(dataset)
    show = sys.stderr.isatty() if progress is None else progress
    names: list[str] = []
    with Progress(console=terminal_console(), disable=not show, transient=True) as bar:
        task = bar.add_task("generating", total=dataset.count)
        if out == "-":
            _write_lines(dataset, sys.stdout.buffer, manifest, bar, task)
        else:
            out.mkdir(parents=True, exist_ok=True)
            if fmt == "jsonl":
                with (out / "conversations.jsonl").open("wb") as fh:
                    _write_lines(dataset, fh, manifest, bar, task)
            else:
                for i, conv in enumerate(dataset.conversations()):
                    name = file_name(i, conv)
                    (out / name).write_bytes(orjson.dumps(conv, option=_JSON_OPTS))
                    # The checksum is over canonical (compact) JSON, whatever the file layout,
                    # so files, JSON Lines and Kafka copies of one dataset share it.
                    manifest.add(conv, orjson.dumps(conv))
                    names.append(name)
                    if i % 1000 == 0:
                        bar.update(task, completed=i)
    doc = manifest.build(files=names if fmt == "json" else None)
    if out != "-":
        (out / "manifest.json").write_bytes(orjson.dumps(doc, option=_JSON_OPTS))
    return doc


def _write_lines(
    dataset: Dataset, fh: BinaryIO, manifest: ManifestBuilder, bar: Progress, task: Any
) -> None:
    for i, conv in enumerate(dataset.conversations()):
        data = orjson.dumps(conv)
        fh.write(data + b"\n")
        manifest.add(conv, data)
        if i % 1000 == 0:
            bar.update(task, completed=i)
