"""Starting any command does not pay for another command's heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import voicelens


def test_the_cli_loads_without_scipy_or_matplotlib() -> None:
    # scipy.stats and matplotlib add ~100 MB of RSS; only `voicelens report` needs them, and
    # `voicelens generate` has a 200 MB budget for 200,000 conversations (bench/README.md).
    code = (
        "import sys, voicelens.cli; "
        "print(sorted(m for m in ('scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_cli_loads_without_the_schema_registry_client() -> None:
    # confluent-kafka's registry client brings its HTTP and OAuth stack (~0.2 s to import);
    # only a command given --schema-registry-url needs it. `voicelens produce` also loads the
    # CLI in its fork server before the first block.
    code = (
        "import sys, voicelens.cli; "
        "print(sorted(m for m in ('confluent_kafka.schema_registry', 'authlib', 'httpx2') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_report_without_the_report_extra_says_how_to_install_it(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python marks a module as not importable.
    code = (
        "import sys; sys.modules['scipy'] = None; from voicelens.cli import main; "
        f"main(['report', '--from-dir', {str(tmp_path)!r}, '--out', {str(tmp_path / 'r')!r}])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.returncode == 2, out.stderr
    assert "pip install 'voicelens[report]'" in out.stderr
    assert "scipy" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "voicelens", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == f"voicelens {voicelens.__version__}"
