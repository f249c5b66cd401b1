"""docker-compose.yml as `make compose-demo` runs it, checked cheaply enough for CI.

The demo itself (deploy/compose_demo.py: the whole stack on podman, several minutes) is run by
hand, not here; its figures are in the README. What it relies on is checked here: podman-compose
reads the file (public images by default, the locally built ones when images.sh's variables are
set), the demo's order starts each service after what it depends on, the published ports are the
variables the demo moves, `make compose-down` names every profile, and the local Kafka image's
entrypoint turns the kafka service's environment into the properties apache/kafka would.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import REPO, VENV_BIN, parse_dockerfile

# Repository tooling beside the package, not in it: loaded from its file.
_spec = importlib.util.spec_from_file_location("compose_demo", REPO / "deploy/compose_demo.py")
assert _spec is not None
assert _spec.loader is not None
compose_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compose_demo)

COMPOSE_FILE = REPO / "docker-compose.yml"
IMAGES_SH = REPO / "deploy" / "compose" / "images.sh"
KAFKA_START = REPO / "deploy" / "compose" / "kafka" / "kafka-start.sh"
ALL_PROFILES = ("registry", "demo", "report", "grafana")


def raw() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return doc


def resolved(shell: dict[str, str]) -> dict[str, Any]:
    """The file as podman-compose resolves it with every profile on and ``shell`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")} | shell
    args = [str(VENV_BIN / "podman-compose"), "-f", str(COMPOSE_FILE)]
    for profile in ALL_PROFILES:
        args += ["--profile", profile]
    done = subprocess.run(
        [*args, "config"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc: dict[str, Any] = yaml.safe_load(done.stdout)
    return doc


def local_images() -> dict[str, str]:
    done = subprocess.run(
        [str(IMAGES_SH), "tags"], capture_output=True, text=True, timeout=30, check=True
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


@pytest.mark.container
def test_podman_compose_reads_the_file_public_images_by_default_local_ones_on_request() -> None:
    public = resolved({})["services"]
    assert set(public) == set(raw()["services"])
    assert public["kafka"]["image"] == "apache/kafka:4.4.0"
    assert public["topics"]["image"] == public["kafka"]["image"]
    assert public["schema-registry"]["image"] == "apicurio/apicurio-registry:3.3.3"
    assert public["prometheus"]["image"] == "prom/prometheus:v3.5.0"
    assert public["consumer"]["deploy"]["replicas"] == 3
    # podman-compose creates replicas only for the explicit mode (the specification's default).
    assert public["consumer"]["deploy"]["mode"] == "replicated"

    images = local_images()
    assert set(images) == {
        "VOICELENS_KAFKA_IMAGE",
        "VOICELENS_REGISTRY_IMAGE",
        "VOICELENS_PROMETHEUS_IMAGE",
    }
    local = resolved({**images, "VOICELENS_KAFKA_HOST_PORT": "19094"})["services"]
    assert local["kafka"]["image"] == local["topics"]["image"] == images["VOICELENS_KAFKA_IMAGE"]
    assert local["schema-registry"]["image"] == images["VOICELENS_REGISTRY_IMAGE"]
    assert local["prometheus"]["image"] == images["VOICELENS_PROMETHEUS_IMAGE"]
    assert all(tag.startswith("localhost/") for tag in images.values())
    # A moved host port moves what Kafka advertises on it too.
    kafka_env = local["kafka"]["environment"]
    assert "HOST://localhost:19094" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert any(str(p).startswith("127.0.0.1:19094:") for p in local["kafka"]["ports"])


def test_grafana_sits_behind_its_profile_and_the_demo_leaves_it_off() -> None:
    assert raw()["name"] == compose_demo.PROJECT  # the label the demo finds containers by
    assert f"{raw()['x-kafka-env']['VOICELENS_TOPIC']}-value" == compose_demo.SUBJECT
    services = raw()["services"]
    assert services["grafana"]["profiles"] == ["grafana"]
    assert "grafana" not in compose_demo.PROFILES
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    assert profiles == set(ALL_PROFILES)
    assert set(compose_demo.PROFILES) == profiles - {"grafana"}


def test_the_demo_starts_every_service_after_what_it_depends_on() -> None:
    services = raw()["services"]
    steps = list(compose_demo.STEPS)
    # Every service but Grafana (not buildable here) and the report (run last, on demand).
    assert set(steps) == set(services) - {"grafana", "report"}
    for name in steps:
        for dependency in services[name].get("depends_on", {}):
            assert steps.index(dependency) < steps.index(name), (name, dependency)
    # The webhook and the scraper are up before the first consumer sends or serves metrics.
    assert steps.index("sink") < steps.index("consumer")
    assert steps.index("prometheus") < steps.index("consumer")
    assert services["consumer"]["deploy"]["replicas"] == compose_demo.CONSUMER_REPLICAS


def test_every_published_port_is_a_variable_the_demo_can_move() -> None:
    variables = set()
    for name, svc in raw()["services"].items():
        for port in svc.get("ports", []):
            m = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:\d+", str(port))
            assert m, f"{name}: {port} is not published on 127.0.0.1 through a variable"
            variables.add(m[1])
            if m[1] in compose_demo.HOST_PORTS:
                assert compose_demo.HOST_PORTS[m[1]] == int(m[2])
    # All but Grafana's, which the demo does not start.
    assert set(compose_demo.HOST_PORTS) == variables - {"VOICELENS_GRAFANA_HOST_PORT"}


def test_compose_down_names_every_profile_so_nothing_is_left_behind() -> None:
    makefile = (REPO / "Makefile").read_text()
    compose = re.search(r"^COMPOSE := (.*?)\n(?!\t)", makefile, re.M | re.S)
    assert compose, "no COMPOSE variable in the Makefile"
    for profile in ALL_PROFILES:
        assert f"--profile {profile}" in compose[1], profile
    target = re.search(r"^compose-down:.*\n\t(.*)", makefile, re.M)
    assert target
    assert target[1].split() == ["$(COMPOSE)", "down", "-v"]  # -v: the named volumes too


def test_local_images_keep_the_public_ones_paths_and_run_as_non_root() -> None:
    for name in ("kafka", "registry", "prometheus"):
        (stage,) = parse_dockerfile(REPO / "deploy" / "compose" / name / "Dockerfile")
        assert stage.base == "debian:bookworm-slim", name  # BASE_IMAGE's default
        user = stage.last("USER")
        assert user is not None
        assert user.value.split(":")[0] not in {"0", "root"}, name
        # An anonymous volume would outlive `compose-down -v`.
        assert stage.last("VOLUME") is None, name
    kafka = parse_dockerfile(REPO / "deploy" / "compose" / "kafka" / "Dockerfile")[0]
    copies = " ".join(i.value for i in kafka.all("COPY"))
    assert "kafka-topics.sh /opt/kafka/bin/" in copies
    services = raw()["services"]
    assert services["topics"]["entrypoint"][0] == "/bin/sh"
    assert "/opt/kafka/bin/kafka-topics.sh" in " ".join(services["kafka"]["healthcheck"]["test"])


def test_the_local_kafka_entrypoint_turns_the_services_environment_into_properties(
    tmp_path: Path,
) -> None:
    env = {k: str(v) for k, v in raw()["services"]["kafka"]["environment"].items()}
    env |= {
        "KAFKA_HEAP_OPTS": "-Xmx1g",  # the JVM's, not a property
        "KAFKA_SOME__UNDERSCORED___NAME": "x",
        "PATH": os.environ["PATH"],
    }
    done = subprocess.run(
        ["/bin/sh", str(KAFKA_START), "--print-config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    props = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@kafka:29093"
    assert props["listeners"] == "INTERNAL://:19092,HOST://:9094,CONTROLLER://:29093"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["auto.create.topics.enable"] == "false"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["some_underscored-name"] == "x"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    assert "heap.opts" not in props
    assert not any(k.startswith(("cluster", "path")) for k in props)


def test_the_demo_fails_naming_what_was_lost_dead_lettered_or_not_delivered() -> None:
    clean = {"conversations": 30, "delivered": 30, "dead_lettered": 0, "missing": 0}
    sink = {"unique_call_ids": 30}
    compose_demo._verdict(clean, sink, 30)  # nothing lost: no error
    cases = [
        ({**clean, "missing": 2, "delivered": 28}, sink, ["missing: 2", "28 delivered, not 30"]),
        ({**clean, "dead_lettered": 1}, sink, ["dead_lettered: 1"]),
        ({**clean, "conversations": 29}, sink, ["holds 29 conversations, not 30"]),
        (clean, {"unique_call_ids": 27}, ["the sink saw 27 call ids, not 30"]),
    ]
    for summary, stats, needles in cases:
        with pytest.raises(compose_demo.ComposeDemoError) as raised:
            compose_demo._verdict(summary, stats, 30)
        for needle in needles:
            assert needle in str(raised.value), (needle, str(raised.value))
