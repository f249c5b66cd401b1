"""deploy/k8s/base: renders, validates against the Kubernetes schemas, holds its invariants, and
what its pods would run runs here.

The base is rendered by kustomize (v5.5.0, `make k8s-tools`) and scored by kube-score, which
finds nothing critical. Built-in kinds are validated offline, strictly,
with kubernetes-validate's bundled schemas; the CRD objects (KEDA's ScaledObject, the
Prometheus Operator's ServiceMonitor) against schemas of their required fields below.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from delivery_support import SECRET_PATH, start_sink, stop_sink
from deploy_support import (
    REPO,
    assert_clean_delivery,
    free_port,
    http_status,
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

from voicelens.consumer.deliver_command import DeliverCommand
from voicelens.kafka import TopicAdmin
from voicelens.producer.produce_command import ProduceCommand
from voicelens.report.command import ReportCommand
from voicelens.settings import KafkaSettings

BASE = REPO / "deploy/k8s/base"
#: The oldest version the base needs (unhealthyPodEvictionPolicy went GA in 1.31), the newest
#: one kubernetes-validate bundles.
K8S_VERSIONS = ("1.31.0", kubernetes_validate.utils.latest_version())
CRDS = {"ScaledObject", "ServiceMonitor"}
COMMANDS: dict[str, type[BaseSettings]] = {
    "deliver": DeliverCommand,
    "produce": ProduceCommand,
    "report": ReportCommand,
}
Objects = dict[tuple[str, str], dict[str, Any]]

# ------------------------------------------------------------------------------- rendering

#: Where `make k8s-tools` installs kustomize and kube-score (looked up before PATH).
TOOLS = REPO / ".cache" / "bin"


def tool(name: str) -> str:
    """A tool's path, or a failed test naming how to install it (never a skip)."""
    found = shutil.which(name, path=f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: run `make k8s-tools`", pytrace=False)
    return found


def render(root: Path) -> list[dict[str, Any]]:
    """``kustomize build``: the real renderer, as `kubectl apply -k` uses it."""
    out = subprocess.run(
        [tool("kustomize"), "build", str(root)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def _containers(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    found: list[dict[str, Any]] = pod.get("containers", []) + pod.get("initContainers", [])
    return found


def by_key(objects: list[dict[str, Any]]) -> Objects:
    keyed = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert len(keyed) == len(objects), "two objects share a kind and name"
    return keyed


@functools.cache
def _rendered() -> list[dict[str, Any]]:
    return render(BASE)


@pytest.fixture
def rendered() -> Objects:
    """The base as kustomize builds it (a fresh copy per test)."""
    return by_key(copy.deepcopy(_rendered()))


def consumer(objects: Objects) -> dict[str, Any]:
    return objects[("Deployment", "voicelens-consumer")]


def config(objects: Objects) -> dict[str, str]:
    data: dict[str, str] = objects[("ConfigMap", "voicelens-config")]["data"]
    return data


def container_env(
    obj: Mapping[str, Any],
    objects: Objects,
    secrets: Mapping[tuple[str, str], str],
    pod_name: str = "pod-0",
) -> dict[str, str]:
    """The environment the kubelet gives the workload's container."""
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            key = (ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
            if key in secrets:
                env[item["name"]] = secrets[key]
            else:
                assert ref["secretKeyRef"].get("optional"), f"Secret {key} is required"
        elif "configMapKeyRef" in ref:
            cm = ref["configMapKeyRef"]
            env[item["name"]] = objects[("ConfigMap", cm["name"])]["data"][cm["key"]]
        else:
            assert ref["fieldRef"]["fieldPath"] == "metadata.name", ref
            env[item["name"]] = pod_name
    return env


def container_argv(obj: Mapping[str, Any]) -> list[str]:
    """The image's ENTRYPOINT (unless `command` replaces it) + `args`."""
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    if "command" in container:
        entry: list[str] = container["command"]
    else:
        inst = parse_dockerfile()[-1].last("ENTRYPOINT")
        assert inst is not None
        entry = inst.exec_form() or []
    return [*entry, *container.get("args", [])]


PLACEHOLDER_SECRETS = {
    ("voicelens-webhook", "webhook-url"): "https://hooks.example.com/placeholder",
    ("voicelens-webhook", "signing-secret"): "whsec_" + base64.b64encode(b"k" * 24).decode(),
}

# ------------------------------------------------------------------------ the CRDs' schemas

SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "minLength": 1}},
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        # KEDA's trigger metadata is map[string]string: a bare 600 is refused.
                        "properties": {
                            "type": {"type": "string"},
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}
KAFKA_TRIGGER_METADATA = {
    "type": "object",
    "required": ["bootstrapServers", "consumerGroup", "topic", "lagThreshold"],
    "properties": {"lagThreshold": {"type": "string", "pattern": "^[1-9][0-9]*$"}},
}
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {"type": "object", "required": ["matchLabels"]},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}

# ------------------------------------------------------------------------------ the checks


def test_the_base_renders_every_object(rendered: Objects) -> None:
    assert set(rendered) == {
        ("ConfigMap", "voicelens-config"),
        ("Deployment", "voicelens-consumer"),
        ("Service", "voicelens-consumer-metrics"),
        ("PodDisruptionBudget", "voicelens-consumer"),
        ("ScaledObject", "voicelens-consumer"),
        ("ServiceMonitor", "voicelens-consumer"),
        ("Job", "voicelens-produce"),
        ("Job", "voicelens-report"),
        ("NetworkPolicy", "voicelens-consumer"),
        ("NetworkPolicy", "voicelens-jobs"),
    }
    images = {c["image"] for o in rendered.values() for c in _containers(o)}
    assert images == {"voicelens:0.1.0", "voicelens-report:0.1.0"}


def kube_score(objects: list[dict[str, Any]]) -> list[str]:
    """kube-score's critical findings on ``objects`` as "Kind/name: check: comment" lines."""
    done = subprocess.run(
        [tool("kube-score"), "score", "--output-format", "json", "-"],
        input=yaml.safe_dump_all(objects),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.stdout, done.stderr
    critical = 1  # kube-score's grades: 1 critical, 5 warning, 7 almost OK, 10 OK
    return [
        f"{o['object_name']}: {c['check']['name']}: "
        + "; ".join(f"{x.get('path', '')} {x['summary']}" for x in c.get("comments") or [])
        for o in json.loads(done.stdout)
        for c in o["checks"]
        if c["grade"] == critical and not c["skipped"]
    ]


def test_kube_score_finds_nothing_critical() -> None:
    assert kube_score(_rendered()) == []
    # The checks are live: the same base without its NetworkPolicies, or with a container's
    # ephemeral-storage limit or pull policy gone, is critical again.
    objects = [copy.deepcopy(o) for o in _rendered() if o["kind"] != "NetworkPolicy"]
    for obj in objects:
        for container in _containers(obj):
            del container["resources"]["limits"]["ephemeral-storage"]
            del container["imagePullPolicy"]
    findings = "\n".join(kube_score(objects))
    for check in ("Pod NetworkPolicy", "Ephemeral Storage", "Image Pull Policy"):
        assert check in findings, check


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_builtin_object_validates_strictly(rendered: Objects, version: str) -> None:
    builtin = [o for o in rendered.values() if o["kind"] not in CRDS]
    assert len(builtin) == 8
    for obj in builtin:
        kubernetes_validate.validate(obj, version, strict=True)
    # Strict means strict: a misspelt field is an error, not a silently ignored key.
    typo = copy.deepcopy(consumer(rendered))
    typo["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, version, strict=True)


def test_the_crd_objects_have_their_required_fields(rendered: Objects) -> None:
    scaled = rendered[("ScaledObject", "voicelens-consumer")]
    jsonschema.validate(scaled, SCALED_OBJECT)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    jsonschema.validate(trigger["metadata"], KAFKA_TRIGGER_METADATA)
    jsonschema.validate(rendered[("ServiceMonitor", "voicelens-consumer")], SERVICE_MONITOR)
    broken = copy.deepcopy(scaled)
    broken["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 600
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCALED_OBJECT)


def test_keda_scales_the_consumers_on_their_group_lag_up_to_the_partition_count(
    rendered: Objects,
) -> None:
    scaled = rendered[("ScaledObject", "voicelens-consumer")]["spec"]
    deployment = consumer(rendered)
    assert scaled["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert scaled["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    settings = config(rendered)
    meta = scaled["triggers"][0]["metadata"]
    assert meta["bootstrapServers"] == settings["VOICELENS_BOOTSTRAP_SERVERS"]
    assert meta["consumerGroup"] == settings["VOICELENS_GROUP"]
    assert meta["topic"] == settings["VOICELENS_TOPIC"]
    assert meta.get("allowIdleConsumers", "false") == "false"
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    assert scaled["maxReplicaCount"] <= int(settings["VOICELENS_PARTITIONS"])
    # Rollouts never add a member beyond the count either.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    assert deployment["spec"]["replicas"] <= scaled["maxReplicaCount"]


def test_consumer_pods_outlive_their_drain_and_probe_the_metrics_server(
    rendered: Objects,
) -> None:
    pod = consumer(rendered)["spec"]["template"]["spec"]
    env = container_env(consumer(rendered), rendered, PLACEHOLDER_SECRETS)
    assert pod["terminationGracePeriodSeconds"] > float(env["VOICELENS_GRACE"])
    (container,) = pod["containers"]
    assert container_argv(consumer(rendered)) == ["voicelens", "deliver"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(env["VOICELENS_METRICS_PORT"])
    probes = (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    )
    for probe, path in probes:
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert get["port"] in ("metrics", ports["metrics"])
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]


def test_the_disruption_budget_covers_exactly_the_consumer_pods(rendered: Objects) -> None:
    pdb = rendered[("PodDisruptionBudget", "voicelens-consumer")]["spec"]
    selector = pdb["selector"]["matchLabels"]
    assert selector == consumer(rendered)["spec"]["selector"]["matchLabels"]
    for obj in rendered.values():
        if "template" in obj.get("spec", {}):
            labels = obj["spec"]["template"]["metadata"]["labels"]
            selected = selector.items() <= labels.items()
            assert selected == (obj is consumer(rendered)), obj["metadata"]["name"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_the_service_monitor_scrapes_the_consumers_metrics_port(rendered: Objects) -> None:
    monitor = rendered[("ServiceMonitor", "voicelens-consumer")]["spec"]
    service = rendered[("Service", "voicelens-consumer-metrics")]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["endpoints"]} <= port_names
    pod_labels = consumer(rendered)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = consumer(rendered)["spec"]["template"]["spec"]["containers"]
    container_ports = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    assert service["spec"]["publishNotReadyAddresses"] is True


def test_secrets_are_referenced_never_written(rendered: Objects) -> None:
    assert not [key for key in rendered if key[0] == "Secret"]
    (container,) = consumer(rendered)["spec"]["template"]["spec"]["containers"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs["VOICELENS_WEBHOOK_URL"] == {"name": "voicelens-webhook", "key": "webhook-url"}
    assert refs["VOICELENS_SIGNING_SECRET"]["name"] == "voicelens-webhook"
    assert refs["VOICELENS_SIGNING_SECRET"]["key"] == "signing-secret"
    secretish = ("WEBHOOK_URL", "SECRET", "PASSWORD", "TOKEN", "KAFKA_CONFIG")
    for obj in rendered.values():
        for c in _containers(obj):
            plain = [e["name"] for e in c.get("env", []) if "value" in e]
            assert not [n for n in plain if n.endswith(secretish)], obj["metadata"]["name"]
    assert not [k for k in config(rendered) if k.endswith(secretish)]
    for path in sorted(BASE.rglob("*")):
        if path.is_file():
            assert secret_findings(path.read_text()) == [], path


def test_every_voicelens_variable_is_a_setting_of_the_command_that_gets_it(
    rendered: Objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = set(config(rendered))
    receivers: set[str] = set()
    for obj in rendered.values():
        if not _containers(obj):
            continue
        argv = container_argv(obj)
        model = COMMANDS[argv[1]]
        fields = {"VOICELENS_" + f.upper() for f in model.model_fields}
        env = container_env(obj, rendered, PLACEHOLDER_SECRETS)
        assert {k for k in env if k.startswith("VOICELENS_")} - shared <= fields, argv
        receivers |= fields
        for key in [k for k in os.environ if k.startswith("VOICELENS_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        model()  # the values parse, as they would in the pod
    assert shared <= receivers, shared - receivers


def test_the_jobs_produce_the_standard_dataset_and_report_on_demand(rendered: Objects) -> None:
    produce = rendered[("Job", "voicelens-produce")]
    assert container_argv(produce) == ["voicelens", "produce"]
    env = container_env(produce, rendered, {})
    assert (env["VOICELENS_COUNT"], env["VOICELENS_START_DAYS_AGO"], env["VOICELENS_SEED"]) == (
        "1800",
        "60",
        "42",
    )
    assert env["VOICELENS_END_TIME"]  # pinned: a retried pod resumes the same dataset
    report = rendered[("Job", "voicelens-report")]
    assert container_argv(report) == ["voicelens", "report"]
    assert report["spec"]["suspend"] is True
    for job in (produce, report):
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(rendered: Objects) -> None:
    user = parse_dockerfile()[-1].last("USER")
    assert user is not None
    uid = int(user.value.split(":")[0])
    for obj in rendered.values():
        for container in _containers(obj):
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] == uid
            assert pod["automountServiceAccountToken"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            # The image's MPLCONFIGDIR and any temporary file live on the writable /tmp.
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


def test_readme_explains_running_on_kubernetes_and_sizing() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Run on Kubernetes")[1].split("\n## ")[0]
    needles = ("kubectl apply -k", "voicelens-webhook", "lagThreshold", "max_rps / partitions")
    for needle in needles:
        assert needle in section, needle


# ------------------------------------------------------------------- what the pods run


@pytest.fixture
def names(admin: TopicAdmin) -> Iterator[str]:
    """A unique topic name; every topic starting with it is deleted afterwards."""
    base = f"test-k8s-{uuid.uuid4().hex[:10]}"
    yield base
    existing = admin.client.list_topics(timeout=15).topics
    admin.delete_topics([t for t in existing if t.startswith(base)])


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_pods_commands_and_environment_deliver_for_real(
    kafka_settings: KafkaSettings, admin: TopicAdmin, names: str, tmp_path: Path
) -> None:
    objects = by_key(render(BASE))
    key = signing_key()
    sink = start_sink(tmp_path, "--sink-signing-secret", key)
    count = 30
    secrets = {
        ("voicelens-webhook", "webhook-url"): sink.url + SECRET_PATH,
        ("voicelens-webhook", "signing-secret"): key,
    }
    # Only what must differ on one machine with one broker; the rest is the manifests'.
    local = {
        **local_names(kafka_settings, names),
        "VOICELENS_REPLICATION_FACTOR": "1",
        "VOICELENS_COUNT": str(count),
    }

    def env_of(obj: Mapping[str, Any], pod: str, **extra: str) -> dict[str, str]:
        env = container_env(obj, objects, secrets, pod)
        env.update({k: v for k, v in local.items() if k in env})
        return process_env({**env, **extra})

    try:
        produce = objects[("Job", "voicelens-produce")]
        result = subprocess.run(
            container_argv(produce),
            env=env_of(produce, "voicelens-produce-abcde"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert f"produced {count} records to {names}" in result.stderr

        deployment = consumer(objects)
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        replicas = deployment["spec"]["replicas"]
        ports = [free_port() for _ in range(replicas)]
        envs = [
            env_of(deployment, f"voicelens-consumer-{i}", VOICELENS_METRICS_PORT=str(p))
            for i, p in enumerate(ports)
        ]
        with running([container_argv(deployment)] * replicas, envs, tmp_path / "pods") as procs:
            wait_until(lambda: sink.stats()["unique_call_ids"] == count, "every record at the sink")
            for port in ports:
                # The probes as the kubelet sends them, to the pod's metrics port.
                live = f"http://127.0.0.1:{port}{container['livenessProbe']['httpGet']['path']}"
                ready = f"http://127.0.0.1:{port}{container['readinessProbe']['httpGet']['path']}"
                assert http_status(live) == 200
                wait_until(lambda u=ready: http_status(u) == 200, ready)  # type: ignore[misc]
            codes = stop_gracefully(procs, pod["terminationGracePeriodSeconds"])
        assert codes == [0] * replicas
        assert_clean_delivery(sink, admin, names, count, tmp_path / "pods", key)
        logs = "".join(p.read_text() for p in (tmp_path / "pods").glob("*.log"))
        assert "voicelens-consumer-0" in logs  # the pod name is the member's id

        report = objects[("Job", "voicelens-report")]
        out = tmp_path / "reports"
        result = subprocess.run(
            container_argv(report),
            env=env_of(report, "voicelens-report-abcde", VOICELENS_OUT=str(out)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["conversations"], summary["delivered"]) == (count, count)
    finally:
        stop_sink(sink)
