"""`voicelens report --from-dir`: files read the same way as topics, and the --fail-under gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from voicelens.producer.exceptions import InputDirectoryError
from voicelens.producer.files import write_dataset
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.report.command import ReportCommand
from voicelens.report.readers import read_directory
from voicelens.report.sources import from_directory

END = "2026-11-01T00:00:00Z"


def _dataset(count: int = 120) -> Dataset:
    return Dataset.from_options(
        GeneratorOptions(count=count, seed=4, start_days_ago=10, end_time=END)
    )


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")}
    return subprocess.run(
        [sys.executable, "-m", "voicelens", "report", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_files_are_read_in_index_order_and_junk_is_skipped_by_name(tmp_path: Path) -> None:
    ds = _dataset()
    write_dataset(ds, tmp_path, "json", progress=False)
    (tmp_path / "zz_broken.json").write_text("{not json")
    (tmp_path / "delivery_progress.json").write_text('{"done": ["a", "b"]}')
    loaded = from_directory(tmp_path)
    conversations, manifest, skipped = loaded.conversations, loaded.manifest, loaded.skipped
    assert [c["call_id"] for c in conversations] == [c["call_id"] for c in ds.conversations()]
    assert manifest is not None
    assert manifest["dataset_id"] == ds.dataset_id
    assert set(skipped) == {"zz_broken.json", "delivery_progress.json"}
    assert skipped["delivery_progress.json"].startswith("not a VCP conversation")
    assert skipped["zz_broken.json"].startswith("malformed JSON")


def test_json_lines_are_read_too(tmp_path: Path) -> None:
    ds = _dataset(50)
    write_dataset(ds, tmp_path, "jsonl", progress=False)
    loaded = from_directory(tmp_path)
    assert loaded.dataset_id == ds.dataset_id
    assert loaded.conversations == list(ds.conversations())


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputDirectoryError, match=r"--from-dir \(VOICELENS_FROM_DIR\)"):
        read_directory(tmp_path / "nope")


@pytest.fixture
def leaky_dir(tmp_path: Path) -> Path:
    """A generated dataset where one call carries a real-looking phone number: score 90."""
    directory = tmp_path / "data"
    ds = _dataset()
    write_dataset(ds, directory, "json", progress=False)
    first = sorted(directory.glob("hvac_*.json"))[0]
    doc = orjson.loads(first.read_bytes())
    doc["vcp_payload"]["custom"]["note"] = "call me on (312) 867-5309"
    first.write_bytes(orjson.dumps(doc))
    return directory


def test_fail_under_gates_the_exit_code(leaky_dir: Path, tmp_path: Path) -> None:
    below = _report(
        "--from-dir", str(leaky_dir), "--out", str(tmp_path / "a"), "--fail-under", "95"
    )
    assert below.returncode == 1, below.stderr
    assert "under --fail-under 95" in below.stderr
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    # The reports are still written: a failed gate says why.
    assert summary["quality_score"] == 85  # PII (10) and the checksum (5): the data changed
    assert summary["grade"] == "B"
    assert not summary["checks"]["pii_free"]["passed"]
    assert "(312) 867-5309" not in (tmp_path / "a" / "quality.md").read_text()


def test_a_score_equal_to_fail_under_passes_the_gate(
    leaky_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("VOICELENS_")]:
        monkeypatch.delenv(key)
    # In-process: the command returns normally (no SystemExit) when the score is not under.
    ReportCommand(from_dir=leaky_dir, out=tmp_path / "b", fail_under=85).cli_cmd()
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["quality_score"] == 85
    with pytest.raises(SystemExit) as exc:
        ReportCommand(from_dir=leaky_dir, out=tmp_path / "c", fail_under=85.5).cli_cmd()
    assert exc.value.code == 1
