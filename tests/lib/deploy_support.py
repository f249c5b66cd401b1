"""Helpers for the container and cluster tests: the Dockerfile as data, and a manifest's command
and environment run as real ``voicelens`` processes on this machine.

No container engine runs here, so the tests prove the images' configuration the other way
round: what a container would run (the image's ENTRYPOINT, the manifest's arguments, the
image's ENV plus the manifest's environment) runs here as it is, with only the addresses,
names and bounds that must differ rewritten.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from delivery_support import Sink, free_port

from voicelens.kafka import TopicAdmin
from voicelens.settings import KafkaSettings

__all__ = [
    "REPO",
    "VENV_BIN",
    "Instruction",
    "Stage",
    "assert_clean_delivery",
    "free_port",
    "http_status",
    "image_env",
    "local_names",
    "parse_dockerfile",
    "process_env",
    "running",
    "secret_findings",
    "signing_key",
    "stop_gracefully",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[2]
#: The virtualenv holding the `voicelens` console script: /opt/venv/bin in the image.
VENV_BIN = Path(sys.executable).parent
IMAGE_VENV_BIN = "/opt/venv/bin"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    value: str

    def exec_form(self) -> list[str] | None:
        """The JSON (exec) form's argument list, or None for the shell form."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        parsed = json.loads(text)
        assert isinstance(parsed, list)
        return [str(x) for x in parsed]

    def split_flags(self) -> tuple[dict[str, str], str]:
        """Leading ``--name=value`` options and the rest of the value."""
        flags: dict[str, str] = {}
        rest = self.value.strip()
        while rest.startswith("--"):
            word, _, rest = rest.partition(" ")
            name, _, val = word[2:].partition("=")
            flags[name] = val
            rest = rest.strip()
        return flags, rest


@dataclass
class Stage:
    """A build stage: its base image, its name and its instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Every instruction with this keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        """The instruction with this keyword that takes effect (the last one)."""
        found = self.all(keyword)
        return found[-1] if found else None


def _logical_lines(text: str) -> Iterator[str]:
    buf: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        # Comment lines end nothing, even inside a continuation (Docker drops them first).
        if line.startswith("#") or (not line and buf):
            continue
        if line.endswith("\\"):
            buf.append(line[:-1].strip())
            continue
        buf.append(line)
        joined = " ".join(x for x in buf if x)
        buf = []
        if joined:
            yield joined


def parse_dockerfile(path: Path = REPO / "Dockerfile") -> list[Stage]:
    """The stages of a Dockerfile, with global ARG defaults substituted into FROM."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = value.strip().partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = value.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], words[0])
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, alias))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, value.strip()))
    return stages


def image_env(stage: Stage) -> dict[str, str]:
    """The ENV a stage sets, as written (``$PATH`` and the like left in place)."""
    env: dict[str, str] = {}
    for inst in stage.all("ENV"):
        words = shlex.split(inst.value)
        if len(words) >= 2 and "=" not in words[0]:  # the legacy `ENV KEY value` form
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, sep, value = word.partition("=")
            assert sep, f"ENV word without '=': {word!r}"
            env[key] = value
    return env


def process_env(manifest_env: Mapping[str, str]) -> dict[str, str]:
    """The environment a container of our image gets, on this machine.

    The runtime stage's ENV, then the manifest's variables on top (as a container runtime
    does). PATH is the one exception: the image's /opt/venv/bin is this checkout's virtualenv.
    Nothing else of the test process leaks in, VOICELENS_* variables least of all.
    """
    runtime = parse_dockerfile()[-1]
    env = {
        "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    for key, value in image_env(runtime).items():
        if key != "PATH":
            env[key] = value
    env.update(manifest_env)
    return env


def http_status(url: str) -> int:
    """The status of a GET, or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local test URL
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wait_until(check: Callable[[], bool], what: str, limit: float = 90) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` when it never does (a hang guard)."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.25)


@contextmanager
def running(
    argvs: Sequence[Sequence[str]], envs: Sequence[Mapping[str, str]], logs: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start one process per (argv, env); kill whatever is still running afterwards."""
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, (argv, env) in enumerate(zip(argvs, envs, strict=True)):
            with (logs / f"{i}.log").open("wb") as out:
                procs.append(
                    subprocess.Popen(list(argv), env=dict(env), stdout=out, stderr=out, cwd=logs)
                )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def stop_gracefully(procs: Sequence[subprocess.Popen[bytes]], grace: float) -> list[int]:
    """SIGTERM every process, as a container runtime does; their exit codes within ``grace``."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=grace))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes.append(-9)
    return codes


_URL = re.compile(r"https?://[^\s\"'`)\]}>,]+")
_PLACEHOLDER_HOSTS = {"localhost", "127.0.0.1", "sink", "kafka", "prometheus", "grafana"}
_TOKEN = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9_-]{16,}$")


def secret_findings(text: str) -> list[str]:
    """What in ``text`` looks like a webhook secret or a signing key (empty when clean).

    Every URL must point at a placeholder or local host, and no URL path may carry a
    token-like segment (the customer's webhook keeps its credentials there).
    """
    found = [m[0] for m in re.finditer(r"whsec_[A-Za-z0-9+/=]{8,}", text)]
    for match in _URL.finditer(text):
        url = match[0].rstrip(".")
        host = urlsplit(url).hostname or ""
        if not (
            host in _PLACEHOLDER_HOSTS
            or host == "example.com"
            or host.endswith((".example.com", ".svc", ".example"))
        ):
            found.append(url)
        found.extend(seg for seg in urlsplit(url).path.split("/") if _TOKEN.match(seg))
    return found


def signing_key() -> str:
    """A fresh Standard Webhooks key (``whsec_`` + base64 of 32 random bytes)."""
    return "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()


def local_names(settings: KafkaSettings, names: str) -> dict[str, str]:
    """What must differ on one machine with one shared broker: its address, and unique topic
    and group names. Everything else stays as the manifests say."""
    return {
        "VOICELENS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "VOICELENS_TOPIC": names,
        "VOICELENS_DATASETS_TOPIC": f"{names}.datasets",
        "VOICELENS_DELIVERIES_TOPIC": f"{names}.deliveries",
        "VOICELENS_GROUP": f"{names}-group",
    }


def assert_clean_delivery(
    sink: Sink, admin: TopicAdmin, names: str, count: int, log_dir: Path, key: str
) -> None:
    """Every record arrived, signed as the receiver expects; the group committed to the end;
    neither the webhook's secret path nor the signing key reached a log."""
    stats = sink.stats()
    assert stats["signature_failures"] == 0
    assert stats["unique_call_ids"] == count
    assert admin.committed_offsets(names, f"{names}-group") == admin.end_offsets(names)
    logs = "".join(p.read_text() for p in log_dir.glob("*.log"))
    assert "SuperSecretToken123" not in logs
    assert key not in logs
