"""The image `make image` builds, run with the machine's container engine.

A container writes a dataset into a mounted folder as its non-root user; the image holds no
build tool, no installer and (without IMAGE_EXTRAS=report) none of the report's libraries, but
the native extensions built in its build stage; and
its HEALTHCHECK passes on a running `deliver` and fails where no /healthz answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from delivery_support import free_port, start_sink, stop_sink

from voicelens.settings import KafkaSettings

pytestmark = pytest.mark.container

IMAGE = os.environ.get("IMAGE", "voicelens:dev")
ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
UID = 10001


def engine(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [ENGINE, *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check:
        assert done.returncode == 0, f"{ENGINE} {' '.join(args)}: {done.stderr}"
    return done


@pytest.fixture(scope="module")
def image() -> str:
    """The built image, or a failed test naming how to build it."""
    if shutil.which(ENGINE) is None or engine("image", "exists", IMAGE, check=False).returncode:
        pytest.fail(
            f"no {IMAGE} image in {ENGINE}: run `make image` first. Image tests fail rather "
            "than skip.",
            pytrace=False,
        )
    return IMAGE


@pytest.fixture
def container() -> Iterator[Callable[..., str]]:
    """Start detached containers (host network) for one test; removed afterwards."""
    names: list[str] = []

    def start(*args: str) -> str:
        name = f"voicelens-test-{uuid.uuid4().hex[:8]}"
        # The engine's own health-check timer needs systemd; the tests run the check themselves.
        engine("run", "-d", "--name", name, "--network", "host", *args)
        names.append(name)
        return name

    yield start
    for name in names:
        engine("rm", "-f", "-t", "0", name, check=False)


def test_generate_writes_into_a_mounted_folder_as_a_non_root_user(
    image: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the container's uid is not the test's
    done = engine(
        "run", "--rm", "--network", "none", "-v", f"{out}:/out", image,
        "generate", "--count", "3", "--out", "/out",
    )  # fmt: skip
    assert "generated 3 conversations" in done.stderr
    files = sorted(p for p in out.iterdir() if p.name != "manifest.json")
    assert len(files) == 3
    assert all(p.stat().st_uid == UID for p in [*files, out / "manifest.json"])
    assert all(json.loads(p.read_text())["call_id"] for p in files)


def test_runtime_is_non_root_without_build_tools_installers_or_report_libraries(
    image: str,
) -> None:
    probe = (
        "import os, shutil, importlib.util as u; print(os.getuid()); "
        "print([t for t in ('gcc', 'cc', 'make', 'pip', 'pip3') if shutil.which(t)]); "
        "print([m for m in ('pip', 'scipy', 'matplotlib') if u.find_spec(m)])"
    )
    done = engine("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", probe)
    uid, tools, modules = done.stdout.splitlines()
    assert int(uid) == UID
    assert tools == "[]"
    assert modules == "[]"
    config = json.loads(engine("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == f"{UID}:{UID}"


def test_the_image_runs_the_native_codecs_and_turn_loops(image: str) -> None:
    # Built without a compiler, setup.py would fall back to the Python twins (~4x the CPU a
    # record for each codec); the Dockerfile's build stage compiles them and fails otherwise.
    probe = (
        "from voicelens.schemas import native_reader, native_writer; "
        "from voicelens.producer import transcript; "
        "print(native_reader.AVAILABLE, native_writer.AVAILABLE, transcript.NATIVE)"
    )
    done = engine("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", probe)
    assert done.stdout.split() == ["True", "True", "True"]


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_healthcheck_passes_on_a_running_deliver_and_fails_without_healthz(
    image: str,
    container: Callable[..., str],
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    sink = start_sink(tmp_path)
    try:
        port = free_port()
        deliver = container(
            "-e", f"VOICELENS_METRICS_PORT={port}", image, "deliver",
            "--bootstrap-servers", kafka_settings.bootstrap_servers,
            "--topic", topic_factory(1), "--group", f"image-{uuid.uuid4().hex[:8]}",
            "--webhook-url", f"{sink.url}/hook",
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while engine("healthcheck", "run", deliver, check=False).returncode != 0:
            state = engine("inspect", "--format", "{{.State.Status}}", deliver).stdout.strip()
            assert state == "running", engine("logs", deliver, check=False).stderr
            assert time.monotonic() < deadline, "deliver never became healthy"
            time.sleep(1)
        # The sink serves no /healthz: the same check must report it unhealthy.
        other = container("-e", f"VOICELENS_METRICS_PORT={free_port()}", image, "sink",
                          "--port", str(free_port()))  # fmt: skip
        assert engine("healthcheck", "run", other, check=False).returncode != 0
        stopped = engine("stop", "-t", "40", deliver)
        assert stopped.returncode == 0
        code = engine("inspect", "--format", "{{.State.ExitCode}}", deliver).stdout.strip()
        assert code == "0", engine("logs", deliver, check=False).stderr
    finally:
        stop_sink(sink)
