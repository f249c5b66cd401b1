"""``make demo``: the main job end to end on local defaults.

Starts what is missing (the local broker, a local webhook sink), produces the user's standard
dataset (1,800 conversations over 60 days, seed 42), delivers it with two consumer processes in
one group, builds the report, prints a summary, and stops everything it started. Each run uses
its own topics and group, so runs never mix and nothing of the user's is touched.

Environment: ``DEMO_COUNT`` (1800), ``DEMO_DAYS`` (60), ``DEMO_SEED`` (42), ``DEMO_CONSUMERS`` (2),
``DEMO_PARTITIONS`` (6), ``DEMO_MAX_RPS`` (200: the webhook's budget; about 9 s of traffic, so the
group's rebalance spreads the partitions over both consumers and the summary shows the budget
held; 10 rehearses the customer's real budget in 3 minutes), ``KAFKA_PORT`` (9092).

The broker: the one this checkout started, else whatever Kafka broker answers at
``VOICELENS_BOOTSTRAP_SERVERS`` (default ``127.0.0.1:$KAFKA_PORT``), else one the demo starts
itself, on a free port when the default one is taken by something that is not Kafka. It says
which in one line. This is repository tooling (``make demo``), not part of the installed package:
it finds ``deploy/kafka/kafka.sh`` beside itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from rich.table import Table

from voicelens.sink.exceptions import SinkStartError
from voicelens.sink.process import LocalSink, local_sink

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
# soft_wrap: a status line is one line in a log or a pipe, whatever the width rich assumes.
console = Console(stderr=True, soft_wrap=True)


class DemoError(Exception):
    """A stage of the demo failed; the message says which, and main prints it in one line."""


def _voicelens(*args: str) -> list[str]:
    return [sys.executable, "-m", "voicelens", *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _broker_running(env: dict[str, str]) -> bool:
    return (
        subprocess.run(
            [str(KAFKA_SH), "status"], env=env, check=False, stderr=subprocess.DEVNULL
        ).returncode
        == 0
    )


def _kafka_answers(bootstrap: str) -> bool:
    """True when a Kafka broker answers a metadata request at ``bootstrap``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=5).brokers)
    except KafkaException:
        return False


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@contextlib.contextmanager
def _kafka(env: dict[str, str]) -> Iterator[None]:
    """Use a broker that answers, or start one (on a free port if the default one is taken)."""
    bootstrap = env["VOICELENS_BOOTSTRAP_SERVERS"]
    if _broker_running(env):
        console.print(f"demo: using this checkout's broker at {bootstrap}")
        yield
        return
    if _kafka_answers(bootstrap):
        console.print(f"demo: using the Kafka broker that answers at {bootstrap}")
        yield
        return
    if "VOICELENS_BOOTSTRAP_SERVERS" in os.environ:
        msg = f"no Kafka broker answers at VOICELENS_BOOTSTRAP_SERVERS={bootstrap}"
        raise DemoError(msg)
    port = int(env["KAFKA_PORT"])
    if _port_open("127.0.0.1", port):
        taken, port = port, _free_port()
        env["KAFKA_PORT"] = str(port)
        env["KAFKA_CONTROLLER_PORT"] = str(_free_port())
        env["VOICELENS_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
        console.print(
            f"demo: 127.0.0.1:{taken} is taken by something "
            f"that is not a Kafka broker; starting a broker of its own on 127.0.0.1:{port}"
        )
    else:
        console.print(f"demo: starting a local broker on 127.0.0.1:{port}")
    if subprocess.run([str(KAFKA_SH), "up"], env=env, check=False).returncode != 0:
        msg = f"the local broker did not start on 127.0.0.1:{port} (see the lines above)"
        raise DemoError(msg)
    try:
        yield
    finally:
        subprocess.run([str(KAFKA_SH), "down"], env=env, check=False)


@contextlib.contextmanager
def _sink(workdir: Path, env: dict[str, str]) -> Iterator[LocalSink]:
    try:
        with local_sink(workdir, env=env) as sink:
            yield sink
    except SinkStartError as exc:
        raise DemoError(str(exc)) from None


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(args, env=env, check=False)
    if result.returncode != 0:
        msg = f"{what} failed with exit code {result.returncode}"
        raise DemoError(msg)


def _deliver(
    commands: list[list[str]], env: dict[str, str], out: Path, sink: LocalSink, count: int
) -> list[int]:
    """Run the consumers, their logs to files, under one live display of what the webhook has
    received: two processes' own displays on one terminal would overwrite each other."""
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for i, args in enumerate(commands):
        with (out / f"consumer-{i + 1}.log").open("wb") as log:
            procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env))
    console.print(f"demo: {len(procs)} consumers delivering; their logs are in {out}")
    columns = (*Progress.get_default_columns(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("at the webhook", total=count)
        while any(p.poll() is None for p in procs):
            bar.update(task, completed=int(sink.stats().get("unique_call_ids", 0)))
            time.sleep(0.5)
    return [p.wait() for p in procs]


def _report(topic: str, deliveries: str, out: Path, env: dict[str, str]) -> int:
    args = _voicelens(
        "report", "--topic", topic, "--deliveries-topic", deliveries, "--out", str(out)
    )
    return subprocess.run(args, env=env, check=False).returncode


def main() -> None:
    """Run the demo; exit non-zero, with one line saying why, if any stage fails."""
    try:
        _demo()
    except DemoError as exc:
        console.print(f"[red]demo: {exc}[/red]")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _demo() -> None:
    env = dict(os.environ)
    port = env.setdefault("KAFKA_PORT", "9092")
    env.setdefault("VOICELENS_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    count = int(env.get("DEMO_COUNT", "1800"))
    days = env.get("DEMO_DAYS", "60")
    seed = env.get("DEMO_SEED", "42")
    consumers = int(env.get("DEMO_CONSUMERS", "2"))
    partitions = env.get("DEMO_PARTITIONS", "6")
    max_rps = float(env.get("DEMO_MAX_RPS", "200"))
    run_id = time.strftime("%Y%m%d%H%M%S")
    topic = f"demo.{run_id}.conversations"
    deliveries = f"demo.{run_id}.deliveries"
    group = f"demo.{run_id}.webhook"
    out = Path(env.get("DEMO_OUT", str(ROOT / "out"))) / f"demo-{run_id}"

    with _kafka(env), _sink(out / "sink", env) as sink:
        # The path stands in for a customer's secret token: it must never show up in output.
        webhook = f"{sink.url}/vcp-webhook/demo-token-{run_id}"
        t0 = time.monotonic()
        _run(
            _voicelens(
                "produce",
                "--count",
                str(count),
                "--start-days-ago",
                days,
                "--seed",
                seed,
                "--topic",
                topic,
                "--partitions",
                partitions,
            ),
            env,
            "produce",
        )
        t1 = time.monotonic()
        codes = _deliver(
            [
                _voicelens(
                    "deliver",
                    "--topic",
                    topic,
                    "--group",
                    group,
                    "--webhook-url",
                    webhook,
                    "--deliveries-topic",
                    deliveries,
                    "--until-drained",
                    "--consumer-id",
                    f"demo-consumer-{i + 1}",
                    "--max-rps",
                    f"{max_rps:g}",
                )
                for i in range(consumers)
            ],
            env,
            out,
            sink,
            count,
        )
        t2 = time.monotonic()
        stats = sink.stats()
        if any(codes):
            logs = ", ".join(str(out / f"consumer-{i + 1}.log") for i in range(consumers))
            msg = f"a deliver process failed (exit codes {codes}; its log: {logs})"
            raise DemoError(msg)
        report_rc = _report(topic, deliveries, out, env)

    delivered = int(stats.get("unique_call_ids", stats.get("accepted", 0)))
    table = Table(title="VoiceLens demo", show_header=False)
    table.add_row("produced", f"{count:,} conversations to {topic} in {t1 - t0:.1f} s")
    table.add_row("delivered", f"{delivered:,} unique call ids at the webhook")
    table.add_row("consumers", f"{consumers} processes in group {group}")
    table.add_row("delivery", f"{t2 - t1:.1f} s, {delivered / max(t2 - t1, 1e-9):,.0f} /s")
    table.add_row(
        "rate limit",
        f"busiest second at the webhook: {stats.get('max_per_second', 0):,} requests "
        f"(budget {max_rps:g}/s over {partitions} partitions)",
    )
    table.add_row("total", f"{t2 - t0:.1f} s")
    table.add_row("report", f"{out} (exit code {report_rc})")
    console.print(table)
    if delivered != count:
        console.print(f"[red]expected {count} call ids at the webhook, saw {delivered}[/red]")
        sys.exit(1)
    if report_rc != 0:
        sys.exit(report_rc)


if __name__ == "__main__":
    main()
