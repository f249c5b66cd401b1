"""The wheel is a well-behaved distribution: one top-level package, a working CLI from any
directory, no lookups relative to the source tree."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import voicelens

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("voicelens-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; its dependencies come from this one's
    site-packages as a plain path entry (no .pth of ours runs, so no editable finder)."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False)
    site = next((env / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return env


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"voicelens"}
    # The data files travel with the code that reads them.
    for data in (
        "voicelens/producer/profiles/hvac.toml",
        "voicelens/schemas/conversation.avsc",
        "voicelens/schemas/history/conversation/v001.avsc",
        "voicelens/py.typed",
        "voicelens/schemas/_reader.pyi",
        "voicelens/schemas/_writer.pyi",
        "voicelens/producer/_turns.pyi",
    ):
        assert data in names, data
    # The native Avro reader and writer and the transcript's per-turn loops are built into it
    # (this machine kind has a C compiler).
    for native in ("schemas/_reader", "schemas/_writer", "producer/_turns"):
        prefix = f"voicelens/{native}."
        assert any(n.startswith(prefix) and n.endswith(".so") for n in names), native


@pytest.mark.parametrize("name", ["consumer", "producer", "report", "schemas"])
def test_no_generic_top_level_module_is_installed(installed: Path, name: str) -> None:
    run = subprocess.run(
        [str(installed / "bin" / "python"), "-c", f"import {name}"],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "ModuleNotFoundError" in run.stderr


def test_the_installed_cli_works_from_any_directory(installed: Path, tmp_path: Path) -> None:
    cli = str(installed / "bin" / "voicelens")
    version = subprocess.run(
        [cli, "--version"], cwd="/", capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == f"voicelens {voicelens.__version__}"
    out = tmp_path / "calls"
    subprocess.run(
        [cli, "generate", "--count", "5", "--out", str(out)],
        cwd="/",
        check=True,
        capture_output=True,
    )
    calls = sorted(p.name for p in out.glob("hvac_*.json"))
    assert len(calls) == 5
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import voicelens; print(voicelens.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(installed)), where.stdout
    native = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "from voicelens.schemas import native_reader as n, native_writer as w, _reader, "
            "_writer; from voicelens.producer import transcript as t, _turns; "
            "print(n.AVAILABLE and w.AVAILABLE and t.NATIVE, _reader.__file__, _writer.__file__, "
            "_turns.__file__)",
        ],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    available, *paths = native.stdout.split()
    assert available == "True"
    for path in paths:  # the wheel's own builds, not the work tree's
        assert path.startswith(str(installed)), path
