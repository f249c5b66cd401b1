"""``voicelens generate``: conversations to files, no Kafka needed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from voicelens.logs import interactive
from voicelens.producer.generator_options import GeneratorOptions
from voicelens.settings import BASE_CONFIG, LogSettings

__all__ = ["GenerateCommand"]


class GenerateCommand(LogSettings, GeneratorOptions):
    """Generate VCP 0.3 conversations to JSON files (or JSON Lines) plus manifest.json."""

    model_config = BASE_CONFIG

    out: str = Field(
        "./synthetic_data", min_length=1, description="output directory, or - for stdout (jsonl)"
    )
    format: Literal["json", "jsonl"] = Field(
        "json", description="one file per conversation, or JSON Lines"
    )

    def cli_cmd(self) -> None:
        """Run the command."""
        # The generator (numpy) and the file writer (rich's progress bar) are loaded when the
        # command runs: every other command's start loads this module too.
        from voicelens.producer.files import write_dataset
        from voicelens.producer.generator import Dataset

        dataset = Dataset.from_options(self)
        started = time.monotonic()
        target: Path | Literal["-"] = "-" if self.out == "-" else Path(self.out)
        fmt: Literal["json", "jsonl"] = "jsonl" if target == "-" else self.format
        manifest = write_dataset(dataset, target, fmt, progress=interactive(self.log_format))
        elapsed = time.monotonic() - started
        print(
            f"generated {manifest['count']} conversations (dataset {dataset.dataset_id}, "
            f"window {manifest['window']['start']} .. {manifest['window']['end']}) "
            f"in {elapsed:.1f} s, {manifest['count'] / max(elapsed, 1e-9):,.0f}/s"
            + ("" if target == "-" else f" -> {target}"),
            file=sys.stderr,
        )
