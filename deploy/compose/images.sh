#!/usr/bin/env bash
# The images docker-compose.yml takes from public registries, built locally where none can be
# reached: Kafka (apache/kafka), Apicurio Registry (apicurio/apicurio-registry) and Prometheus
# (prom/prometheus), each from its Dockerfile beside this script on a Debian base. Grafana has
# no Debian package and stays behind the compose profile `grafana`.
#
#   deploy/compose/images.sh [kafka|registry|prometheus ...]     # all three without arguments
#   deploy/compose/images.sh tags                                 # VAR=image lines for compose
#
# The base: BASE_IMAGE, else the local Python base `make image` keeps
# (localhost/voicelens-python:3.11-bookworm, Debian bookworm), else debian:bookworm-slim.
# Kafka's jars come through Maven exactly as for `make kafka-up` (deploy/kafka/kafka.sh fetch),
# Apicurio's app as for `make registry-up`, with a Java runtime jlink makes from the JDK >= 21
# that script finds. The engine's layer cache makes a rebuild with unchanged inputs a no-op.
#
# Environment: CONTAINER_ENGINE (docker|podman), BASE_IMAGE, VOICELENS_CACHE.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${VOICELENS_CACHE:-$root/.cache}
stage=$cache/compose
local_base=localhost/voicelens-python:3.11-bookworm
declare -A tags=(
  [kafka]=localhost/voicelens-kafka:4.4.0
  [registry]=localhost/voicelens-registry:3.3.3
  [prometheus]=localhost/voicelens-prometheus:debian
)
# The docker-compose.yml variable that selects each image.
declare -A variables=(
  [kafka]=VOICELENS_KAFKA_IMAGE
  [registry]=VOICELENS_REGISTRY_IMAGE
  [prometheus]=VOICELENS_PROMETHEUS_IMAGE
)

log() { printf 'compose images: %s\n' "$*" >&2; }

pick_engine() {
  if [[ -n ${CONTAINER_ENGINE:-} ]]; then echo "$CONTAINER_ENGINE"; return; fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  echo podman
}

# A build context of hard links (copies across file systems): the jars and the app are large.
stage_context() {
  local name=$1 context=$stage/$1
  rm -rf "$context"; mkdir -p "$context"
  cp -a "$here/$name/." "$context/"
  echo "$context"
}

link_tree() { cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"; }

context_kafka() {
  local context
  context=$(stage_context kafka)
  VOICELENS_CACHE=$cache "$root/deploy/kafka/kafka.sh" fetch >&2
  link_tree "$cache/kafka/libs" "$context/libs"
  rm -f "$context/libs/.pom.sha256"
  cp "$root/deploy/kafka/log4j2.yaml" "$context/log4j2.yaml"
  echo "$context"
}

context_registry() {
  local context java jlink app
  context=$(stage_context registry)
  app=$(VOICELENS_CACHE=$cache "$root/deploy/registry/registry.sh" fetch)
  java=$("$root/deploy/registry/registry.sh" java)
  jlink=$(dirname "$(readlink -f "$java")")/jlink
  [[ -x $jlink ]] || { log "no jlink beside $java: the registry image needs a JDK >= 21, not a JRE"; exit 1; }
  link_tree "$app" "$context/app"
  # The modules Quarkus, Netty and the Kafka client load; no jmods of the JDK's own tools.
  log "making a Java runtime with $jlink"
  "$jlink" --add-modules java.se,jdk.unsupported,jdk.zipfs,jdk.naming.dns,jdk.management,jdk.crypto.cryptoki,jdk.net \
    --strip-debug --no-man-pages --no-header-files --output "$context/jre" >&2
  echo "$context"
}

context_prometheus() { stage_context prometheus; }

# `init: true` in docker-compose.yml: podman needs catatonit for it, which Debian's podman
# package only recommends.
install_init() {
  command -v catatonit >/dev/null || [[ -x /usr/libexec/podman/catatonit ]] && return 0
  command -v apt-get >/dev/null || { log "podman needs catatonit for init: true; install it"; exit 1; }
  log "installing catatonit (Debian package) for the services' init: true"
  local sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends catatonit >/dev/null ||
    { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends catatonit >/dev/null; }
}

build() {
  local name=$1 engine=$2 base=$3 context args=()
  context=$("context_$name")
  args=(--build-arg "BASE_IMAGE=$base" -f "$context/Dockerfile" -t "${tags[$name]}")
  if [[ $engine == podman ]]; then
    # apt inside the build reaches Debian's mirror through the host's network and CA bundle.
    args+=(--format docker --network host)
    [[ $base == localhost/* ]] && args+=(--pull=never)
    [[ -f /etc/ssl/certs/ca-certificates.crt ]] &&
      args+=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  fi
  log "building ${tags[$name]} with $engine on $base"
  "$engine" build "${args[@]}" "$context"
  log "built ${tags[$name]}: $("$engine" image inspect --format '{{.Size}}' "${tags[$name]}") bytes"
}

main() {
  if [[ ${1:-} == tags ]]; then
    local name
    for name in kafka registry prometheus; do echo "${variables[$name]}=${tags[$name]}"; done
    return
  fi
  local engine base names=("$@")
  ((${#names[@]})) || names=(kafka registry prometheus)
  for name in "${names[@]}"; do
    [[ -n ${tags[$name]:-} ]] || { log "unknown image '$name' (kafka, registry, prometheus)"; exit 2; }
  done
  engine=$(pick_engine)
  [[ $engine != podman ]] || install_init
  base=${BASE_IMAGE:-}
  if [[ -z $base ]]; then
    if "$engine" image exists "$local_base" 2>/dev/null; then base=$local_base; else base=debian:bookworm-slim; fi
  fi
  for name in "${names[@]}"; do build "$name" "$engine" "$base"; done
}

main "$@"
