"""``make compose-demo``: docker-compose.yml end to end with podman-compose, checked at each step.

The services start one step at a time, each only once the step before it is done: Kafka
(healthy), the schema registry (its Confluent API answers), the topic initialisation and the
producer job (both exited 0), the sink (healthy), Prometheus (healthy), then the three consumer
replicas. The sink and Prometheus come before the consumers so that no request meets a webhook
that is not listening yet and every replica is scraped from its first second. Once the sink has
every call id, Prometheus must see three healthy consumer targets (DNS service discovery over
the compose network), the consumers stop with a drain (exit 0), and the report job rebuilds
delivery and quality from the topics. Its summary is printed last; the demo exits 1, naming the
step, when a step fails or when anything is missing, dead-lettered or not delivered.

The services' ordering is driven here rather than by ``depends_on`` conditions: podman 4.3's
``podman wait`` has no ``healthy`` condition, so podman-compose ignores ``service_healthy``
there, and podman runs no health check on its own without systemd; the demo runs each check
itself (``podman healthcheck run``).

Environment: ``VOICELENS_COUNT`` (1800), ``VOICELENS_MAX_RPS`` (200: the webhook's budget, about
9 s of traffic; the compose file's own default is 10), ``VOICELENS_IMAGE``,
``VOICELENS_REPORT_IMAGE`` and the images ``deploy/compose/images.sh tags`` names (the Makefile
sets them), ``COMPOSE_DEMO_TIMEOUT`` (seconds per step, 300). Ports published on 127.0.0.1 keep
their documented defaults when free and move to free ones when not. The stack is left running
for ``make compose-down``, which the Makefile always runs afterwards. Repository tooling, not
part of the installed package.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["COMPOSE_FILE", "HOST_PORTS", "PROFILES", "PROJECT", "STEPS", "SUBJECT", "main"]

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
#: The compose file's `name`: its containers carry it as a label.
PROJECT = "voicelens"
#: The profiles the demo turns on beyond the default services (Grafana's stays off).
PROFILES = ("registry", "demo", "report")
#: The order the services start in, one step at a time.
STEPS = ("kafka", "schema-registry", "topics", "producer", "sink", "prometheus", "consumer")
#: The variables docker-compose.yml publishes ports with, and each one's default.
HOST_PORTS = {
    "VOICELENS_KAFKA_HOST_PORT": 9094,
    "VOICELENS_REGISTRY_HOST_PORT": 8081,
    "VOICELENS_SINK_HOST_PORT": 8787,
    "VOICELENS_PROMETHEUS_HOST_PORT": 9090,
}
REGISTRY_URL = "http://schema-registry:8080/apis/ccompat/v7"
#: The subject the producer registers the conversation schema under (`<topic>-value`).
SUBJECT = "vcp.conversations-value"
CONSUMER_REPLICAS = 3
console = Console(stderr=True, soft_wrap=True)


class ComposeDemoError(Exception):
    """A step failed; the message names it, and main prints it in one line."""


def main() -> None:
    """Run the demo; exit 1, with one line naming the failed step, when anything fails."""
    try:
        _demo()
    except ComposeDemoError as exc:
        console.print(f"[red]compose-demo: {exc}[/red]")
        sys.exit(1)
    except subprocess.TimeoutExpired as exc:
        command = " ".join(str(a) for a in exc.cmd)
        console.print(f"[red]compose-demo: {command} did not finish in {exc.timeout:.0f} s[/red]")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VOICELENS_COUNT", "1800")
    env.setdefault("VOICELENS_MAX_RPS", "200")
    # The stack's own registry, whatever a shell variable meant for a registry elsewhere says.
    env["VOICELENS_SCHEMA_REGISTRY_URL"] = REGISTRY_URL
    for name, default in HOST_PORTS.items():
        if name not in env:
            env[name] = str(default if _port_free(default) else _free_port())
    return env


class Stack:
    """podman-compose and podman on this project's compose file, with the demo's environment."""

    def __init__(self, env: dict[str, str], timeout: float) -> None:
        self.env = env
        self.timeout = timeout
        bin_dir = Path(sys.executable).parent
        self.compose = [str(bin_dir / "podman-compose"), "-f", str(COMPOSE_FILE)]
        for profile in PROFILES:
            self.compose += ["--profile", profile]

    def run(self, *args: str, what: str, timeout: float | None = None) -> str:
        done = subprocess.run(
            [*self.compose, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise ComposeDemoError(f"{what}: podman-compose {' '.join(args)} failed:\n{tail}")
        return done.stdout

    def up(self, service: str) -> None:
        # --no-deps: this script is the one that orders the services; --no-build: images are
        # built beforehand (make image, deploy/compose/images.sh), never in the middle.
        self.run("up", "-d", "--no-deps", "--no-build", service, what=f"starting {service}")

    def containers(self, service: str) -> list[str]:
        done = _podman(
            "ps", "-a", "--format", "{{.Names}}",
            "--filter", f"label=io.podman.compose.project={PROJECT}",
            "--filter", f"label=com.docker.compose.service={service}",
        )  # fmt: skip
        names = sorted(done.stdout.split())
        if not names:
            raise ComposeDemoError(f"{service}: no container was created")
        return names

    def logs(self, container: str) -> str:
        done = _podman("logs", "--tail", "15", container)
        return (done.stdout + done.stderr).strip()

    def state(self, container: str) -> tuple[str, int]:
        fmt = "{{.State.Status}} {{.State.ExitCode}}"
        status, code = _podman("inspect", "--format", fmt, container).stdout.split()
        return status, int(code)

    def wait_until(self, check: Callable[[], bool], service: str, what: str) -> None:
        """Poll ``check`` until it holds; fail when a container of ``service`` stops first."""
        deadline = time.monotonic() + self.timeout
        while not check():
            for name in self.containers(service):
                status, code = self.state(name)
                if status != "running":
                    msg = f"{service}: {name} {status} (exit code {code}) before {what}"
                    raise ComposeDemoError(f"{msg}:\n{self.logs(name)}")
            if time.monotonic() > deadline:
                raise ComposeDemoError(f"{service}: not {what} after {self.timeout:.0f} s")
            time.sleep(1)

    def healthy(self, service: str) -> None:
        def check() -> bool:
            return all(
                _podman("healthcheck", "run", name).returncode == 0
                for name in self.containers(service)
            )

        self.wait_until(check, service, "healthy")

    def job(self, service: str) -> None:
        """Wait for a one-shot service's container to exit; fail unless it exits 0."""
        (name,) = self.containers(service)
        done = _podman("wait", name, timeout=self.timeout)
        code = done.stdout.strip()
        if done.returncode != 0 or code != "0":
            raise ComposeDemoError(f"{service} exited {code or '?'}:\n{self.logs(name)}")


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _get_json(url: str) -> Any:
    try:
        # Only the stack's ports on 127.0.0.1, built above from http:// literals.
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
            return json.loads(answer.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def _demo() -> None:
    env = _environment()
    count = int(env["VOICELENS_COUNT"])
    stack = Stack(env, float(env.get("COMPOSE_DEMO_TIMEOUT", "300")))
    ports = {name: int(env[name]) for name in HOST_PORTS}
    sink_stats = f"http://127.0.0.1:{ports['VOICELENS_SINK_HOST_PORT']}/stats"
    registry = f"http://127.0.0.1:{ports['VOICELENS_REGISTRY_HOST_PORT']}/apis/ccompat/v7"
    prometheus = f"http://127.0.0.1:{ports['VOICELENS_PROMETHEUS_HOST_PORT']}"
    timings: list[tuple[str, float]] = []
    started = time.monotonic()

    def step(name: str, action: Callable[[], None]) -> None:
        t0 = time.monotonic()
        console.print(f"compose-demo: {name} ...")
        action()
        timings.append((name, time.monotonic() - t0))

    # A leftover stack of an interrupted run would mix its data into this one's.
    stack.run("down", "-v", what="removing a previous stack")

    def kafka() -> None:
        stack.up("kafka")
        stack.healthy("kafka")

    def schema_registry() -> None:
        stack.up("schema-registry")
        stack.wait_until(
            lambda: _get_json(f"{registry}/subjects") is not None,
            "schema-registry",
            "answering its Confluent API",
        )

    def one_shot(service: str) -> Callable[[], None]:
        def run() -> None:
            stack.up(service)
            stack.job(service)

        return run

    def long_running(service: str) -> Callable[[], None]:
        def run() -> None:
            stack.up(service)
            stack.healthy(service)

        return run

    def consumers() -> None:
        stack.up("consumer")
        names = stack.containers("consumer")
        if len(names) != CONSUMER_REPLICAS:
            raise ComposeDemoError(f"consumer: {len(names)} replicas, not {CONSUMER_REPLICAS}")

        def delivered() -> bool:
            stats = _get_json(sink_stats)
            return stats is not None and int(stats["unique_call_ids"]) >= count

        stack.wait_until(delivered, "consumer", f"delivered all {count} call ids")

    def scraped() -> None:
        query = f"{prometheus}/api/v1/query?query=up%7Bjob%3D%22voicelens-deliver%22%7D"

        def all_up() -> bool:
            answer = _get_json(query)
            if answer is None:
                return False
            values = [r["value"][1] for r in answer["data"]["result"]]
            return values == ["1"] * CONSUMER_REPLICAS

        stack.wait_until(all_up, "prometheus", f"scraping {CONSUMER_REPLICAS} consumer replicas")

    def drain() -> None:
        # podman-compose stops each within the file's stop_grace_period: the drain commits.
        stack.run("stop", "consumer", what="stopping the consumers")
        codes = [stack.state(name)[1] for name in stack.containers("consumer")]
        if codes != [0] * CONSUMER_REPLICAS:
            raise ComposeDemoError(f"consumer: exit codes {codes} after the drain, not all 0")

    report_line: list[str] = []

    def report() -> None:
        done = subprocess.run(
            [*stack.compose, "run", "--rm", "--no-deps", "report"],
            env=env,
            capture_output=True,
            text=True,
            timeout=stack.timeout,
            check=False,
        )
        # podman-compose runs it on a terminal when it has one: its stderr may come on stdout.
        output = (done.stdout + done.stderr).strip().splitlines()
        report_line.extend(ln for ln in output if ln.startswith("report:"))
        if done.returncode != 0:
            tail = "\n".join(output[-15:])
            raise ComposeDemoError(f"report exited {done.returncode}:\n{tail}")

    step("1. Kafka", kafka)
    step("2. schema registry", schema_registry)
    step("   topics", one_shot("topics"))

    def producer() -> None:
        one_shot("producer")()
        subjects = _get_json(f"{registry}/subjects") or []
        if SUBJECT not in subjects:
            raise ComposeDemoError(f"producer: no {SUBJECT} in the registry (it has {subjects})")

    step("3. producer", producer)
    step("5. sink", long_running("sink"))
    step("6. Prometheus", long_running("prometheus"))
    step("4. consumers x3, delivering", consumers)
    step("   Prometheus scrapes", scraped)
    step("   drain", drain)
    step("   report", report)
    total = time.monotonic() - started

    written = stack.run(
        "run", "--rm", "--no-deps", "--entrypoint", "cat", "report", "/data/reports/summary.json",
        what="reading the report's summary",
    )  # fmt: skip
    summary = json.loads(written[written.index("{") :])
    stats = _get_json(sink_stats) or {}
    for line in report_line:
        console.print(line)
    _print(summary, stats, timings, total, env)
    _verdict(summary, stats, count)


def _print(
    summary: dict[str, Any],
    stats: dict[str, Any],
    timings: list[tuple[str, float]],
    total: float,
    env: dict[str, str],
) -> None:
    steps = Table(title="compose-demo steps", show_header=False)
    for name, seconds in timings:
        steps.add_row(name, f"{seconds:.1f} s")
    steps.add_row("total", f"{total:.1f} s")
    console.print(steps)
    table = Table(title="VoiceLens compose demo: the report's summary", show_header=False)
    for key in ("conversations", "delivered", "dead_lettered", "duplicates", "missing"):
        table.add_row(key, str(summary.get(key)))
    table.add_row("quality score", f"{summary.get('quality_score')} (grade {summary.get('grade')})")
    table.add_row("webhook", f"{stats.get('unique_call_ids')} unique call ids at the sink")
    table.add_row(
        "rate limit",
        f"busiest second {stats.get('max_per_second')} requests "
        f"(budget {env['VOICELENS_MAX_RPS']}/s, {CONSUMER_REPLICAS} consumer replicas)",
    )
    console.print(table)


def _verdict(summary: dict[str, Any], stats: dict[str, Any], count: int) -> None:
    """Exit 1 naming what was lost, dead-lettered or not delivered."""
    problems = []
    if summary.get("conversations") != count:
        held = summary.get("conversations")
        problems.append(f"the topic holds {held} conversations, not {count}")
    if summary.get("delivered") != count:
        problems.append(f"{summary.get('delivered')} delivered, not {count}")
    for key in ("missing", "dead_lettered"):
        if summary.get(key) != 0:
            problems.append(f"{key}: {summary.get(key)}")
    if stats.get("unique_call_ids") != count:
        problems.append(f"the sink saw {stats.get('unique_call_ids')} call ids, not {count}")
    if problems:
        raise ComposeDemoError("; ".join(problems))
    console.print(f"compose-demo: all {count} conversations delivered, nothing lost")


if __name__ == "__main__":
    main()
