"""`voicelens generate` writes the user's file layout plus a manifest that proves its content."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import orjson

ARGS = [
    "--count",
    "300",
    "--start-days-ago",
    "20",
    "--seed",
    "5",
    "--end-time",
    "2026-11-01T00:00:00Z",
]


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "voicelens", "generate", *args], capture_output=True, check=False
    )


def test_files_manifest_counts_and_checksum(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = run(*ARGS, "--out", str(out))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    files = sorted(p for p in out.glob("hvac_*.json"))
    assert len(files) == manifest["count"] == 300
    assert files[0].name.startswith("hvac_00001_")
    digest = hashlib.sha256()
    scenarios: dict[str, int] = {}
    for name in manifest["files"]:
        doc = json.loads((out / name).read_text())
        assert name.endswith(
            f"_{doc['vcp_payload']['custom']['outcome_hint']}_"
            f"{doc['vcp_payload']['call']['provider']}.json"
        )
        digest.update(orjson.dumps(doc))
        hint = doc["vcp_payload"]["custom"]["outcome_hint"]
        scenarios[hint] = scenarios.get(hint, 0) + 1
    assert manifest["checksum"]["value"] == digest.hexdigest()
    assert manifest["counts"]["scenario"] == dict(sorted(scenarios.items()))
    assert sum(manifest["counts"]["day"].values()) == 300
    assert manifest["window"] == {"start": "2026-10-12T00:00:00Z", "end": "2026-11-01T00:00:00Z"}


def test_jsonl_to_stdout_is_the_same_data(tmp_path: Path) -> None:
    run(*ARGS, "--out", str(tmp_path / "a"))
    stdout = run(*ARGS, "--out", "-").stdout
    lines = [orjson.loads(line) for line in stdout.splitlines()]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert [orjson.loads((tmp_path / "a" / n).read_bytes()) for n in manifest["files"]] == lines


def test_bad_value_names_the_setting() -> None:
    result = run("--count", "0", "--out", "-")
    assert result.returncode == 2
    assert b"--count" in result.stderr
    assert b"VOICELENS_COUNT" in result.stderr
