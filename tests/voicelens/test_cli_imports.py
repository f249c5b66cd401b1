"""Starting any command does not pay for another command's heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import voicelens


def loaded(module: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` a fresh interpreter has loaded after importing ``module``."""
    code = f"import sys, {module}; print(sorted(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(ast.literal_eval(out.stdout.strip()))


def test_the_command_tree_loads_without_scipy_or_matplotlib() -> None:
    # scipy.stats and matplotlib add ~100 MB of RSS; only `voicelens report` needs them, and
    # `voicelens generate` has a 200 MB budget for 200,000 conversations (bench/README.md).
    assert loaded("voicelens.commands", ("scipy", "matplotlib")) == []


def test_the_command_tree_loads_without_the_schema_registry_client() -> None:
    # confluent-kafka's registry client brings its HTTP and OAuth stack (~0.2 s to import);
    # only a command given --schema-registry-url needs it.
    heavy = ("confluent_kafka.schema_registry", "authlib", "httpx2")
    assert loaded("voicelens.commands", heavy) == []


def test_the_console_scripts_module_loads_no_command() -> None:
    # `voicelens produce`'s workers each run the console script again on start (Python 3.11's
    # fork server re-runs the main script): it must not load the command tree (~0.4 s a worker).
    heavy = ("voicelens.commands", "pydantic_settings", "numpy", "confluent_kafka", "aiohttp")
    assert loaded("voicelens.cli", heavy) == []
    assert loaded("voicelens.commands", heavy[:2]) == sorted(heavy[:2])  # the check can fail


#: What runs a command, and not what defines its settings: each command imports its own when it
#: runs (the engine, the generator, the receiver, the report), never at its start.
RUNTIME = (
    "aiohttp",
    "uvloop",
    "opentelemetry",
    "confluent_kafka",
    "numpy",
    "rich.console",
    "fastavro",
    "prometheus_client",
    "tenacity",
    "voicelens.producer.generator",
    "voicelens.consumer.service",
    "voicelens.sink.app",
    "voicelens.report.quality",
)


def test_the_command_tree_loads_only_what_the_settings_need() -> None:
    # Every command's start builds the whole tree (its --help too): the runtime libraries of all
    # seven commands would cost it ~0.7 s more.
    assert loaded("voicelens.commands", RUNTIME) == []
    # The check can fail: deliver's run loads the engine and most of the libraries.
    assert set(loaded("voicelens.consumer.deliver_run", RUNTIME)) >= {
        "aiohttp",
        "uvloop",
        "opentelemetry",
        "confluent_kafka",
        "voicelens.consumer.service",
    }


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
