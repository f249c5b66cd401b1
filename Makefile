# One set of targets for developers and CI. `make demo` and `make test` are the README's two
# commands; both set up everything they need from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKA_PORT ?= 9092
export KAFKA_PORT
REGISTRY_PORT ?= 8081
export REGISTRY_PORT
# Tests and the demo talk to the broker `make kafka-up` starts unless told otherwise.
export VOICELENS_TEST_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)
# The cluster tests (tests/cluster/) talk to the three nodes `make kafka-cluster-up` starts.
CLUSTER_PORT ?= 29092
export CLUSTER_PORT
export VOICELENS_TEST_CLUSTER_BOOTSTRAP ?= $(shell deploy/kafka/cluster.sh bootstrap)
# The secured-broker tests (tests/secure/) talk to the SASL_SSL broker `make kafka-secure-up`
# starts, as its admin (its password file and CA are in its state dir).
export VOICELENS_TEST_SECURE_BOOTSTRAP ?= $(shell deploy/kafka/secure.sh bootstrap)
export VOICELENS_TEST_SECURE_DIR ?= $(shell deploy/kafka/secure.sh state-dir)
# ... and to the schema registry `make registry-up` starts (its Confluent-compatible API).
export VOICELENS_TEST_SCHEMA_REGISTRY ?= http://127.0.0.1:$(REGISTRY_PORT)/apis/ccompat/v7

.PHONY: help venv tools lock kafka-up kafka-down kafka-status kafka-cluster-up kafka-cluster-down \
	kafka-cluster-status kafka-cluster-kill kafka-cluster-start kafka-secure-up kafka-secure-down \
	kafka-secure-status kafka-secure-acls registry-up registry-down \
	registry-status schemas-check image compose-images compose-demo compose-down k8s-tools lint \
	typecheck check unit test demo bench \
	bench-tools clean

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock setup.py schemas/_reader.c schemas/_writer.c producer/_turns.c
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install the project with pinned dependencies

tools: ## system tools the tests need beyond the venv (Debian's prometheus: promtool, prometheus)
	bash .ci/install-extras

lock: ## re-pin requirements.lock from a fresh resolve
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install -q '.[dev]'
	.lock-venv/bin/pip freeze --exclude voicelens > requirements.lock && rm -rf .lock-venv

kafka-up: venv ## start the local single-node Kafka broker on 127.0.0.1:9092 (idempotent)
	PYTHON=$(BIN)/python deploy/kafka/kafka.sh up

kafka-down: ## stop the local broker
	deploy/kafka/kafka.sh down

kafka-status:
	deploy/kafka/kafka.sh status

kafka-cluster-up: venv ## start the three-node KRaft cluster on 127.0.0.1:29092-29094 (idempotent)
	PYTHON=$(BIN)/python deploy/kafka/cluster.sh up

kafka-cluster-down: ## stop the three-node cluster
	deploy/kafka/cluster.sh down

kafka-cluster-status:
	deploy/kafka/cluster.sh status

kafka-cluster-kill: ## kill -9 one cluster node: make kafka-cluster-kill NODE=2
	deploy/kafka/cluster.sh kill $(NODE)

kafka-cluster-start: venv ## start one cluster node again and wait until it has rejoined: NODE=2
	PYTHON=$(BIN)/python deploy/kafka/cluster.sh start $(NODE)

kafka-secure-up: venv ## start the secured broker (SASL_SSL, SCRAM-SHA-512, ACLs) on 127.0.0.1:39092 (idempotent)
	PYTHON=$(BIN)/python deploy/kafka/secure.sh up

kafka-secure-down: ## stop the secured broker
	deploy/kafka/secure.sh down

kafka-secure-status:
	deploy/kafka/secure.sh status

kafka-secure-acls: venv ## grant each command's ACLs on the secured broker (ACLS_ARGS: acls.py's flags)
	PYTHON=$(BIN)/python deploy/kafka/secure.sh acls grant $(ACLS_ARGS)

registry-up: ## start the local Apicurio Registry (Confluent API) on 127.0.0.1:8081 (idempotent; JDK >= 21)
	deploy/registry/registry.sh up

registry-down: ## stop the local schema registry
	deploy/registry/registry.sh down

registry-status:
	deploy/registry/registry.sh status

schemas-check: venv ## the project's schemas against the ones registered in the local registry
	$(BIN)/voicelens schemas check --schema-registry-url $(VOICELENS_TEST_SCHEMA_REGISTRY)

image: ## build voicelens:dev from the Dockerfile (podman or docker; IMAGE, IMAGE_EXTRAS=report)
	deploy/image/build.sh

# The images docker-compose.yml runs: the project's two (voicelens, voicelens-report) and, where no
# image registry answers, Kafka, the schema registry and Prometheus built on the local Debian base.
COMPOSE := $(BIN)/podman-compose -f docker-compose.yml --profile registry --profile demo \
	--profile report --profile grafana
compose-images: image ## the images docker-compose.yml runs, built locally (deploy/compose/images.sh)
	IMAGE=voicelens-report:dev IMAGE_EXTRAS=report deploy/image/build.sh
	deploy/compose/images.sh

compose-demo: venv compose-images ## docker-compose.yml end to end with podman-compose, then compose-down
	@set -a; eval "$$(deploy/compose/images.sh tags)"; set +a; \
	VOICELENS_IMAGE=localhost/voicelens:dev VOICELENS_REPORT_IMAGE=localhost/voicelens-report:dev \
	  $(BIN)/python deploy/compose_demo.py; rc=$$?; \
	$(MAKE) --no-print-directory compose-down; exit $$rc

compose-down: venv ## remove the compose stack's containers, network and volumes
	$(COMPOSE) down -v

# Built from the Go module proxy into .cache/bin, where tests/deploy/test_k8s.py looks first.
# kustomize v5.5.0: later versions need module versions the proxy here refuses.
KUSTOMIZE_VERSION ?= v5.5.0
KUBE_SCORE_VERSION ?= v1.20.0
k8s-tools: ## kustomize and kube-score for the Kubernetes tests (go install into .cache/bin)
	@test -x .cache/bin/kustomize || GOBIN=$(CURDIR)/.cache/bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	@test -x .cache/bin/kube-score || GOBIN=$(CURDIR)/.cache/bin go install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)

lint: venv ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv ## mypy --strict
	$(BIN)/mypy

check: lint typecheck ## lint and type-check

unit: venv ## tests that need no broker, cluster, registry or image
	$(BIN)/pytest -m 'not kafka and not registry and not container'

test: venv tools k8s-tools image ## lint, type-check and the whole test suite against the real broker, cluster, secured broker and registry (started if needed)
	$(MAKE) --no-print-directory check
	@started=0; cluster=0; reg=0; secure=0; \
	if ! deploy/kafka/kafka.sh status 2>/dev/null; then PYTHON=$(BIN)/python deploy/kafka/kafka.sh up && started=1; fi; \
	if ! deploy/kafka/cluster.sh status 2>/dev/null; then PYTHON=$(BIN)/python deploy/kafka/cluster.sh up && cluster=1; fi; \
	if ! deploy/registry/registry.sh status 2>/dev/null; then deploy/registry/registry.sh up && reg=1; fi; \
	if ! deploy/kafka/secure.sh status 2>/dev/null; then PYTHON=$(BIN)/python deploy/kafka/secure.sh up && secure=1; fi; \
	$(BIN)/voicelens schemas check --schema-registry-url $(VOICELENS_TEST_SCHEMA_REGISTRY) && $(BIN)/pytest; rc=$$?; \
	if [ $$secure = 1 ]; then deploy/kafka/secure.sh down; fi; \
	if [ $$reg = 1 ]; then deploy/registry/registry.sh down; fi; \
	if [ $$cluster = 1 ]; then deploy/kafka/cluster.sh down; fi; \
	if [ $$started = 1 ]; then deploy/kafka/kafka.sh down; fi; exit $$rc

demo: venv ## the main job end to end on local defaults: 1,800 conversations over 60 days, delivered by 2 consumers
	$(BIN)/python deploy/demo.py

bench: venv bench-tools ## throughput benchmarks (see bench/README.md)
	$(BIN)/python bench/run_all.py

bench-tools: ## wrk for the delivery ceiling (Debian's package; skipped with a note elsewhere)
	@command -v wrk >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 || \
	  { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends wrk; }; }
	@command -v wrk >/dev/null 2>&1 || echo "wrk not installed: bench_delivery skips the ceiling"

clean: ## remove the virtualenv and caches (keeps the Kafka jars)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
