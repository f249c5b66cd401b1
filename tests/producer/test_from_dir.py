"""`voicelens produce --from-dir`: bad input is named and stops the run unless --skip-invalid,
nothing blocks on special files, and what is published is exactly what the manifest counts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from delivery_support import free_port

from voicelens.producer.directory import SkipReason
from voicelens.producer.sources import DirectorySource
from voicelens.report.readers import read_topic
from voicelens.schemas.canonical import canonical_json
from voicelens.schemas.codec import ConversationCodec, DatasetEventCodec
from voicelens.settings import KafkaSettings

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
codec = ConversationCodec()


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")}
    return subprocess.run(
        [sys.executable, "-m", "voicelens", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _produce(
    settings: KafkaSettings, topic: str, datasets: str, directory: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    return _run(
        "produce",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--topic",
        topic,
        "--datasets-topic",
        datasets,
        "--partitions",
        "1",
        "--from-dir",
        str(directory),
        *flags,
    )


def _examples(directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    for path in EXAMPLES.glob("*.json"):
        shutil.copy(path, directory / path.name)
    return directory


def _misfit(directory: Path) -> None:
    """A file that passes every VCP check but that the Avro encoder rejects."""
    doc = orjson.loads((EXAMPLES / "hvac_001_booked_service_retell.json").read_bytes())
    doc["call_id"] = doc["vcp_payload"]["call"]["call_id"] = "misfit-1"
    doc["vcp_payload"]["outcomes"]["objective"]["metrics"]["estimated_value_usd"] = "lots"
    (directory / "hvac_902_misfit.json").write_bytes(orjson.dumps(doc))


def _bad_files(directory: Path) -> dict[str, str]:
    """Every kind of bad input, by file name, with the reason the summary must give."""
    (directory / "hvac_900_broken.json").write_text('{"call_id": ')
    (directory / "hvac_901_wrong.json").write_text('{"call_id": "x", "vcp_version": "0.2"}')
    _misfit(directory)
    (directory / "hvac_903_list.json").write_text("[1, 2]")
    os.mkfifo(directory / "hvac_904_pipe.json")
    return {
        "hvac_900_broken.json": SkipReason.MALFORMED_JSON,
        "hvac_901_wrong.json": SkipReason.NOT_VCP_0_3,
        "hvac_902_misfit.json": SkipReason.SCHEMA_MISFIT,
        "hvac_903_list.json": f"{SkipReason.NOT_AN_OBJECT}: a JSON array",
        "hvac_904_pipe.json": f"{SkipReason.NOT_A_REGULAR_FILE}: a FIFO",
    }


def _summary_lines(stderr: str) -> dict[str, str]:
    lines = stderr.split("files in ", 1)[1].splitlines()[1:]
    return dict(line.strip().split(": ", 1) for line in lines if line.startswith("  hvac_"))


def test_the_source_counts_only_files_the_encoder_accepts(tmp_path: Path) -> None:
    directory = _examples(tmp_path / "in")
    _misfit(directory)
    source = DirectorySource(directory)
    assert source.count == 8
    assert [s.name for s in source.skipped] == ["hvac_902_misfit.json"]
    manifest = source.manifest()
    assert manifest["count"] == 8
    assert sum(manifest["counts"]["scenario"].values()) == 8
    assert "hvac_902_misfit.json" not in manifest["files"]
    assert list(manifest["skipped_files"]) == ["hvac_902_misfit.json"]
    # The dataset id covers the published files only: fixing nothing but removing the bad file
    # names the same dataset, so a later --skip-invalid run resumes it.
    (directory / "hvac_902_misfit.json").unlink()
    assert DirectorySource(directory).dataset_id == source.dataset_id


@pytest.mark.kafka
def test_skipped_files_stop_the_run_and_are_each_named(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    directory = _examples(tmp_path / "in")
    expected = _bad_files(directory)
    topic, datasets = topic_factory(1), topic_factory(1, suffix="-datasets")
    run = _produce(kafka_settings, topic, datasets, directory)
    assert run.returncode == 1, run.stderr
    assert f"skipped 5 of 13 files in {directory}:" in run.stderr
    named = _summary_lines(run.stderr)
    assert set(named) == set(expected)
    for name, reason in expected.items():
        assert named[name].startswith(str(reason)), (name, named[name])
    assert "nothing was published" in run.stderr
    assert "--skip-invalid (VOICELENS_SKIP_INVALID)" in run.stderr
    assert list(read_topic(kafka_settings, topic, lambda m: m)) == []
    assert list(read_topic(kafka_settings, datasets, lambda m: m)) == []


@pytest.mark.kafka
def test_skip_invalid_publishes_the_valid_files_and_a_manifest_of_exactly_them(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    directory = _examples(tmp_path / "in")
    expected = _bad_files(directory)
    topic, datasets = topic_factory(1), topic_factory(1, suffix="-datasets")
    run = _produce(kafka_settings, topic, datasets, directory, "--skip-invalid")
    assert run.returncode == 0, run.stderr
    assert set(_summary_lines(run.stderr)) == set(expected)
    assert "5 files skipped" in run.stderr
    decoded = [
        codec.decode(m.value() or b"")[1] for m in read_topic(kafka_settings, topic, lambda m: m)
    ]
    assert sorted(d["call_id"] for d in decoded) == sorted(
        orjson.loads(p.read_bytes())["call_id"] for p in EXAMPLES.glob("*.json")
    )
    events = [
        DatasetEventCodec().decode(m.value() or b"")
        for m in read_topic(kafka_settings, datasets, lambda m: m)
    ]
    (manifest,) = [e["manifest"] for e in events if e["kind"] == "manifest"]
    assert manifest["count"] == 8
    assert set(manifest["skipped_files"]) == set(expected)
    digest = hashlib.sha256(b"".join(canonical_json(d) for d in decoded))
    assert manifest["checksum"]["value"] == digest.hexdigest()


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    # Nothing reaches a broker: the address is one nobody listens on.
    run = _run(
        "produce",
        "--bootstrap-servers",
        f"127.0.0.1:{free_port()}",
        "--from-dir",
        str(tmp_path / "in"),
    )
    assert run.returncode == 1, run.stderr
    assert "nothing to publish" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_fifo_is_skipped_with_a_warning_not_waited_on(tmp_path: Path) -> None:
    directory = tmp_path / "in"
    directory.mkdir()
    os.mkfifo(directory / "conversations.json")
    # No writer ever opens the FIFO: a reader that opened it blocking would never return.
    run = _run(
        "produce",
        "--bootstrap-servers",
        f"127.0.0.1:{free_port()}",
        "--from-dir",
        str(directory),
        "--skip-invalid",
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert "skipping conversations.json: not a regular file: a FIFO" in run.stderr
    assert "  conversations.json: not a regular file: a FIFO" in run.stderr
    assert "nothing to publish" in run.stderr


@pytest.mark.kafka
def test_an_integer_in_a_double_field_keeps_the_checksum_of_an_exact_copy(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    directory = _examples(tmp_path / "in")
    path = directory / "hvac_001_booked_service_retell.json"
    text = path.read_text()
    assert '"estimated_value_usd": 278.0' in text
    # The same value as JSON allows a person to write it; Avro carries it as a double.
    path.write_text(text.replace('"estimated_value_usd": 278.0', '"estimated_value_usd": 278'))
    topic, datasets = topic_factory(1), topic_factory(1, suffix="-datasets")
    run = _produce(kafka_settings, topic, datasets, directory)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "report"
    report = _run(
        "report",
        "--bootstrap-servers",
        kafka_settings.bootstrap_servers,
        "--topic",
        topic,
        "--datasets-topic",
        datasets,
        "--deliveries-topic",
        f"{topic}-deliveries",
        "--out",
        str(out),
    )
    assert report.returncode == 0, report.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checks"]["checksum"]["passed"], summary["checks"]["checksum"]
    assert summary["checks"]["count_accuracy"]["passed"], summary["checks"]["count_accuracy"]
    # The files themselves, beside that manifest, pass the same checksum.
    shutil.copy(out / "manifest.json", directory / "manifest.json")
    files_report = _run("report", "--from-dir", str(directory), "--out", str(tmp_path / "f"))
    assert files_report.returncode == 0, files_report.stderr
    from_files = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert from_files["checks"]["checksum"]["passed"], from_files["checks"]["checksum"]
