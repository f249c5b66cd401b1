"""The Dockerfile, .dockerignore and docker-compose.yml: valid, wired as documented, and proven.

The image itself is built and run in tests/deploy/test_image.py; the whole stack runs in
`make compose-demo` (by hand: minutes; tests/deploy/test_compose.py checks what it relies on).
So besides checking the files, the Kafka test runs what the containers would run: the image's
ENTRYPOINT with each service's command, in the image's ENV plus the service's environment,
against the real broker and a real sink. Only what must differ on one machine is rewritten:
addresses, unique topic and group names, per-replica metrics ports, the dataset size, and the
report's output directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from delivery_support import SECRET_PATH, start_sink, stop_sink
from deploy_support import (
    REPO,
    VENV_BIN,
    assert_clean_delivery,
    free_port,
    http_status,
    image_env,
    local_names,
    parse_dockerfile,
    process_env,
    running,
    secret_findings,
    signing_key,
    stop_gracefully,
    wait_until,
)
from pydantic_settings import BaseSettings

from voicelens import topics
from voicelens.consumer.deliver_command import DeliverCommand
from voicelens.kafka import TopicAdmin
from voicelens.producer.produce_command import ProduceCommand
from voicelens.producer.publisher import DATASETS_PARTITIONS
from voicelens.report.command import ReportCommand
from voicelens.settings import KafkaSettings
from voicelens.sink.command import SinkCommand

COMPOSE_FILE = REPO / "docker-compose.yml"
M = TypeVar("M", bound=BaseSettings)
#: The services built from our image, and the `voicelens` command each one runs.
COMMANDS: dict[str, type[BaseSettings]] = {
    "producer": ProduceCommand,
    "consumer": DeliverCommand,
    "sink": SinkCommand,
    "report": ReportCommand,
}
COMMAND_NAMES = {"producer": "produce", "consumer": "deliver", "sink": "sink", "report": "report"}


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return doc


def service(name: str) -> dict[str, Any]:
    svc: dict[str, Any] = compose()["services"][name]
    return svc


_VAR = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_]\w*))")
_EXPR = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ..."""

    def one(m: re.Match[str]) -> str:
        if m["dollar"]:
            return "$"
        if m["plain"]:
            return shell.get(m["plain"], "")
        expr = _EXPR.fullmatch(m["braced"])
        assert expr, f"bad interpolation {m[0]!r}"
        val, op, arg = shell.get(expr["name"]), expr["op"], expr["arg"]
        # With a colon, set-but-empty counts as unset.
        present = bool(val) if (op or ":").startswith(":") else val is not None
        if op is None:
            return val or ""
        if op.endswith("-"):
            return (val or "") if present else arg
        if op.endswith("?"):
            assert present, f"{expr['name']}: {arg}"
            return val or ""
        return arg if present else ""

    return _VAR.sub(one, value)


def service_env(name: str, shell: Mapping[str, str]) -> dict[str, str]:
    """A service's environment as Compose resolves it from ``shell`` (the user's variables)."""
    raw = service(name).get("environment") or {}
    assert isinstance(raw, dict), f"{name}: keep `environment` a mapping"
    env: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:  # passed through from the shell when set there
            if key in shell:
                env[key] = shell[key]
        else:
            env[key] = interpolate(
                str(value).lower() if isinstance(value, bool) else str(value), shell
            )
    return env


def service_argv(name: str) -> list[str]:
    """ENTRYPOINT + command, as the container runtime puts them together."""
    svc = service(name)
    entrypoint = svc.get("entrypoint")
    if entrypoint is None:
        inst = parse_dockerfile()[-1].last("ENTRYPOINT")
        assert inst is not None
        entrypoint = inst.exec_form()
    assert isinstance(entrypoint, list)
    command = svc.get("command") or []
    assert isinstance(command, list), f"{name}: keep `command` in exec (list) form"
    return [*entrypoint, *command]


def seconds(duration: str) -> float:
    """A Compose duration such as '45s' or '1m30s'."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def settings_from(model: type[M], env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> M:
    """The command's settings read from exactly ``env``, as the process in the container would."""
    for key in [k for k in os.environ if k.startswith("VOICELENS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return model()


def mounts(name: str) -> dict[str, Path]:
    """A service's bind mounts: container path -> file or directory in this repository."""
    found = {}
    for vol in service(name).get("volumes", []):
        source, target = str(vol).split(":")[:2]
        if source.startswith("./"):
            found[target] = REPO / source
    return found


# ---------------------------------------------------------------------------------- compose


def test_interpolation_follows_compose() -> None:
    shell = {"EMPTY": "", "SET": "v"}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${NONE-d} ${NONE}", shell) == "v d  d "
    assert interpolate("$$SET $SET ${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt}", shell) == (
        "$SET v alt  alt"
    )
    with pytest.raises(AssertionError, match="needed"):
        interpolate("${EMPTY:?needed}", shell)


def test_compose_file_passes_the_compose_specification_schema(tmp_path: Path) -> None:
    checker = [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec"]
    ok = subprocess.run([*checker, str(COMPOSE_FILE)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The same check, offline, rejects a misspelt key: it really validates.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("replicas: 3", "replica: 3"))
    bad = subprocess.run([*checker, str(broken)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "replica" in bad.stdout


def test_the_consumer_service_runs_three_replicas_that_drain_before_they_are_killed() -> None:
    consumer = service("consumer")
    assert consumer["deploy"]["replicas"] == 3
    assert service_argv("consumer") == ["voicelens", "deliver"]
    # Replicas share one definition: no fixed container name, no host port.
    assert "container_name" not in consumer
    assert "ports" not in consumer
    env = service_env("consumer", {})
    assert seconds(consumer["stop_grace_period"]) > float(env["VOICELENS_GRACE"])
    assert env["VOICELENS_METRICS_PORT"] in {str(p) for p in consumer["expose"]}
    assert consumer["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_demo_sink_and_report_sit_behind_profiles_the_rest_starts_by_default() -> None:
    services = compose()["services"]
    assert services["sink"]["profiles"] == ["demo"]
    assert services["report"]["profiles"] == ["report"]
    assert services["grafana"]["profiles"] == ["grafana"]
    default = {n for n, s in services.items() if "profiles" not in s}
    assert default == {"kafka", "topics", "producer", "consumer", "prometheus"}
    # The consumers' default webhook is that sink: `--profile demo` works with no set-up.
    assert service_env("consumer", {})["VOICELENS_WEBHOOK_URL"].startswith("http://sink:8787/")
    assert service_env("sink", {})["VOICELENS_PORT"] == "8787"


def test_long_running_services_have_healthchecks_one_shot_jobs_do_not() -> None:
    services = compose()["services"]
    for name in ("kafka", "sink", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert "/stats" in " ".join(services["sink"]["healthcheck"]["test"])
    # The consumer keeps the image's HEALTHCHECK (/healthz on its metrics port) ...
    assert "healthcheck" not in services["consumer"]
    # ... which one-shot jobs without a metrics server would fail: they turn it off.
    for name in ("producer", "report"):
        assert services[name]["healthcheck"] == {"disable": True}, name
        assert services[name]["restart"] == "no"
    assert interpolate(services["kafka"]["image"], {}).startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_voicelens_variable_is_a_setting_of_the_command_that_gets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The commands ignore unknown VOICELENS_* variables, so a misspelt one would do nothing,
    # silently. The shared block may hold a setting of any command that receives it.
    shared = set(compose()["x-kafka-env"])
    fields = {
        name: {"VOICELENS_" + f.upper() for f in model.model_fields}
        for name, model in COMMANDS.items()
    }
    receivers = [n for n in COMMANDS if shared <= set(service(n).get("environment") or {})]
    for name, model in COMMANDS.items():
        assert service_argv(name) == ["voicelens", COMMAND_NAMES[name]]
        env = service_env(name, {})
        own = {k for k in env if k.startswith("VOICELENS_")} - shared
        assert own <= fields[name], f"{name}: {own - fields[name]}"
        # And the values parse into the command's settings, as they would in the container.
        settings_from(model, env, monkeypatch)
    for key in shared:
        assert any(key in fields[n] for n in receivers), f"{key} is no command's setting"


def test_the_producer_defaults_to_the_standard_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert service_argv("producer") == ["voicelens", "produce"]
    settings = settings_from(ProduceCommand, service_env("producer", {}), monkeypatch)
    assert (settings.count, settings.start_days_ago, settings.seed) == (1800, 60, 42)
    assert settings.partitions == 6
    assert service("producer")["depends_on"]["topics"]["condition"] == (
        "service_completed_successfully"
    )


def test_prometheus_scrapes_every_consumer_replica_and_loads_the_alerts(tmp_path: Path) -> None:
    files = mounts("prometheus")
    config_path = files["/etc/prometheus/prometheus.yml"]
    assert config_path == REPO / "deploy/compose/prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    (job,) = [j for j in config["scrape_configs"] if "dns_sd_configs" in j]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["consumer"]
    assert sd["type"] == "A"  # one record per replica
    assert str(sd["port"]) == service_env("consumer", {})["VOICELENS_METRICS_PORT"]
    # promtool checks the config with the rule files as the container sees them.
    for target, source in files.items():
        if target.startswith("/etc/prometheus/"):
            shutil.copy(source, tmp_path / Path(target).name)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make tools` (Debian's prometheus package)"
    check = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "rules found" in check.stdout


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboard() -> None:
    files = mounts("grafana")
    assert all(path.exists() for path in files.values()), files
    sources = [
        p for t, p in files.items() if t.startswith("/etc/grafana/provisioning/datasources/")
    ]
    providers = [
        p for t, p in files.items() if t.startswith("/etc/grafana/provisioning/dashboards/")
    ]
    assert sources == [REPO / "deploy/grafana/provisioning/datasources/prometheus.yml"]
    assert providers == [REPO / "deploy/grafana/provisioning/dashboards/voicelens.yml"]
    (datasource,) = yaml.safe_load(sources[0].read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"  # the compose service and its port
    assert "prometheus" in compose()["services"]
    (provider,) = yaml.safe_load(providers[0].read_text())["providers"]
    dashboards = files[provider["options"]["path"]]
    assert (dashboards / "voicelens.json").is_file()


def test_topic_initialisation_runs_the_mounted_script_with_the_shared_settings() -> None:
    topics_svc = service("topics")
    assert topics_svc["image"] == service("kafka")["image"]  # kafka-topics.sh comes with it
    script = mounts("topics")[service_argv("topics")[-1]]
    assert script == REPO / "deploy/compose/create-topics.sh"
    assert set(compose()["x-kafka-env"]) <= set(service_env("topics", {}))
    assert topics_svc["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_no_secret_in_the_container_files() -> None:
    paths = [COMPOSE_FILE, REPO / "Dockerfile", REPO / ".dockerignore"]
    paths += sorted(p for p in (REPO / "deploy/compose").rglob("*") if p.is_file())
    for path in paths:
        assert secret_findings(path.read_text()) == [], path
    docs = (REPO / "README.md").read_text().split("## Run with containers")[1]
    assert secret_findings(docs.split("## Architecture")[0]) == []
    env = service("consumer")["environment"]
    assert env["VOICELENS_WEBHOOK_URL"].startswith("${VOICELENS_WEBHOOK_URL:-")
    assert env["VOICELENS_SIGNING_SECRET"] is None  # only ever from the user's shell
    assert service("sink")["environment"]["VOICELENS_SINK_SIGNING_SECRET"] is None
    # The checker itself finds a real-looking webhook credential.
    leak = "https://abc.functions.example.net/vcp-webhook/a/x/s/Zq8LmN2pRt5VwXy7Kd3F"
    assert secret_findings(leak)


# ------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_slim_non_root_with_the_cli_as_entrypoint() -> None:
    stages = parse_dockerfile()
    builder, runtime = stages[0], stages[-1]
    assert len(stages) >= 2
    assert "slim" in runtime.base
    install = " ".join(i.value for i in builder.all("RUN"))
    # Dependencies pinned by the lock (a layer of their own), then the project itself.
    assert "pip install -c requirements.lock -r /tmp/dependencies.txt" in install
    assert 'pip install -c requirements.lock --no-deps ".' in install
    copies = [i.split_flags() for i in runtime.all("COPY")]
    assert ({"from": builder.name or "0"}, "/opt/venv /opt/venv") in copies
    user = runtime.last("USER")
    assert user is not None
    uid = user.value.split(":")[0]
    assert uid.isdigit()  # numeric, so runAsNonRoot can verify it
    assert int(uid) != 0
    entrypoint = runtime.last("ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint.exec_form() == ["voicelens"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["voicelens"] == "voicelens.cli:main"
    env = image_env(runtime)
    assert env["PATH"].startswith("/opt/venv/bin:")
    expose = " ".join(i.value for i in runtime.all("EXPOSE")).split()
    assert "9100" in expose


def test_dockerfile_healthcheck_asks_healthz_on_the_metrics_port() -> None:
    health = parse_dockerfile()[-1].last("HEALTHCHECK")
    assert health is not None
    flags, rest = health.split_flags()
    assert {"interval", "timeout", "start-period", "retries"} <= set(flags)
    command = json.loads(rest.removeprefix("CMD").strip())
    assert command[0] == "python"
    assert "/healthz" in command[-1]
    assert "VOICELENS_METRICS_PORT" in command[-1]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.removeprefix("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, p) for p in prefixes):
            verdict = not negate
    return verdict


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#")]
    needed = []
    for stage in parse_dockerfile():
        for inst in stage.all("COPY"):
            flags, rest = inst.split_flags()
            if "from" not in flags:
                needed += rest.split()[:-1]
    for source in needed:
        assert (REPO / source).exists(), source
        assert not _ignored(source.rstrip("/"), patterns), source
    for heavy in (".venv/bin/python", ".git/HEAD", ".cache/kafka/libs/x.jar", "tests/conftest.py"):
        assert _ignored(heavy, patterns), heavy
    assert _ignored(".env", patterns)
    assert _ignored("voicelens/__pycache__/cli.cpython-311.pyc", patterns)


def test_readme_explains_running_with_containers() -> None:
    readme = (REPO / "README.md").read_text()
    heads = [line for line in readme.splitlines() if line.startswith("## ")]
    at = heads.index("## Run with containers")
    assert heads[at - 1] == "## Using an existing Kafka cluster"
    assert heads[at + 1] == "## Run on Kubernetes"
    section = readme.split("## Run with containers")[1].split("## Run on Kubernetes")[0]
    for needle in ("docker compose", "--profile demo", "--profile report", "VOICELENS_WEBHOOK_URL"):
        assert needle in section, needle


# ------------------------------------------------------------------- what the images run


SHIM = """\
import argparse, json, sys
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

p = argparse.ArgumentParser()
p.add_argument("--bootstrap-server", required=True)
p.add_argument("--create", action="store_true", required=True)
p.add_argument("--if-not-exists", action="store_true")
p.add_argument("--topic", required=True)
p.add_argument("--partitions", type=int, required=True)
p.add_argument("--replication-factor", type=int, required=True)
p.add_argument("--config", action="append", default=[])
a = p.parse_args()
with open(sys.argv[0] + ".calls", "a") as f:
    f.write(json.dumps(vars(a)) + "\\n")
config = dict(c.split("=", 1) for c in a.config)
new = NewTopic(a.topic, a.partitions, a.replication_factor, config=config)
admin = AdminClient({"bootstrap.servers": a.bootstrap_server})
try:
    admin.create_topics([new])[a.topic].result(timeout=30)
except KafkaException as exc:
    if not (a.if_not_exists and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS):
        raise
"""


@pytest.fixture
def names(admin: TopicAdmin) -> Iterator[str]:
    """A unique topic name; every topic starting with it is deleted afterwards."""
    base = f"test-compose-{uuid.uuid4().hex[:10]}"
    yield base
    existing = admin.client.list_topics(timeout=15).topics
    admin.delete_topics([t for t in existing if t.startswith(base)])


def _kafka_topics_stand_in(bin_dir: Path) -> Path:
    """kafka-topics.sh for this machine (the image's needs Kafka's tools jars): it creates the
    topic it is asked for on the real broker, with librdkafka's admin client."""
    bin_dir.mkdir()
    (bin_dir / "kafka_topics.py").write_text(SHIM)
    tool = bin_dir / "kafka-topics.sh"
    tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{bin_dir / "kafka_topics.py"}" "$@"\n')
    tool.chmod(0o755)
    return bin_dir / "kafka_topics.py.calls"


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_compose_services_deliver_with_exactly_their_commands_and_environment(
    kafka_settings: KafkaSettings, admin: TopicAdmin, names: str, tmp_path: Path
) -> None:
    key = signing_key()
    # What a user would export before `docker compose up`; COUNT keeps the run short.
    shell = {"VOICELENS_COUNT": "30", "VOICELENS_SIGNING_SECRET": key}
    count = 30
    sink = start_sink(tmp_path, "--sink-signing-secret", key)
    local = {
        **local_names(kafka_settings, names),
        "VOICELENS_WEBHOOK_URL": sink.url + SECRET_PATH,
    }

    def env_of(name: str, **extra: str) -> dict[str, str]:
        env = service_env(name, shell)
        env.update({k: v for k, v in local.items() if k in env})
        return process_env({**env, **extra})

    try:
        # 1. Topic initialisation: the mounted script, with the topics service's environment.
        calls = _kafka_topics_stand_in(tmp_path / "bin")
        argv = service_argv("topics")
        argv[-1] = str(mounts("topics")[argv[-1]])
        init = subprocess.run(
            argv,
            env=env_of("topics", KAFKA_BIN=str(tmp_path / "bin")),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        created = {c["topic"]: c for c in map(json.loads, calls.read_text().splitlines())}
        assert created[names]["partitions"] == 6
        assert created[topics.dlq_topic(names)]["partitions"] == 6
        assert created[f"{names}.deliveries"]["partitions"] == 6
        assert created[f"{names}.datasets"]["partitions"] == DATASETS_PARTITIONS
        assert created[f"{names}.datasets"]["config"] == ["cleanup.policy=compact"]

        # 2. The producer job. It checks the initialised topics' layout and refuses a mismatch.
        produce = subprocess.run(
            service_argv("producer"),
            env=env_of("producer"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert produce.returncode == 0, produce.stderr
        assert f"produced {count} records to {names}" in produce.stderr

        # 3. The consumer service, as many replicas as it declares, each on its own port.
        replicas = service("consumer")["deploy"]["replicas"]
        ports = [str(free_port()) for _ in range(replicas)]
        envs = [env_of("consumer", VOICELENS_METRICS_PORT=p) for p in ports]
        members = [service_argv("consumer")] * replicas
        grace = seconds(service("consumer")["stop_grace_period"])
        with running(members, envs, tmp_path / "consumers") as procs:
            wait_until(lambda: sink.stats()["unique_call_ids"] == count, "every record at the sink")
            # The image's HEALTHCHECK, run as Docker runs it, in each replica's environment.
            health = parse_dockerfile()[-1].last("HEALTHCHECK")
            assert health is not None
            check = json.loads(health.split_flags()[1].removeprefix("CMD").strip())
            for env in envs:
                assert subprocess.run(check, env=env, timeout=30, check=False).returncode == 0
            dead = {**envs[0], "VOICELENS_METRICS_PORT": "1"}
            assert subprocess.run(check, env=dead, timeout=30, check=False).returncode != 0
            for port in ports:
                url = f"http://127.0.0.1:{port}/readyz"
                wait_until(lambda u=url: http_status(u) == 200, f"{url} ready")  # type: ignore[misc]
            codes = stop_gracefully(procs, grace)
        assert codes == [0] * replicas
        assert_clean_delivery(sink, admin, names, count, tmp_path / "consumers", key)

        # 4. The report job, writing where its volume would be.
        out = tmp_path / "reports"
        report = subprocess.run(
            service_argv("report"),
            env=env_of("report", VOICELENS_OUT=str(out)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert report.returncode == 0, report.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["conversations"], summary["delivered"]) == (count, count)
        assert summary["missing"] == 0
    finally:
        stop_sink(sink)
