#!/usr/bin/env bash
# Start, stop or check a local Apicurio Registry 3 (the Confluent-compatible schema registry),
# fetched through Maven from Maven Central into .cache/apicurio. Idempotent: `up` on a running
# registry changes nothing. In-memory storage (H2): schemas last as long as the process.
#
#   deploy/registry/registry.sh up|down|status|java|fetch
#
# Serves http://127.0.0.1:$REGISTRY_PORT, Confluent API at /apis/ccompat/v7; the management
# interface (health, metrics) on 127.0.0.1:$REGISTRY_MANAGEMENT_PORT, never on all interfaces.
#
# Environment: REGISTRY_PORT (8081), REGISTRY_MANAGEMENT_PORT (8082), REGISTRY_HEAP (256m),
# REGISTRY_JAVA (a java binary of JDK >= 21; found when unset), VOICELENS_CACHE
# (<repo>/.cache), REGISTRY_READY_TIMEOUT seconds (180).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${VOICELENS_CACHE:-$root/.cache}
version=3.3.3
port=${REGISTRY_PORT:-8081}
mport=${REGISTRY_MANAGEMENT_PORT:-8082}
heap=${REGISTRY_HEAP:-256m}
ready_timeout=${REGISTRY_READY_TIMEOUT:-180}
home=$cache/apicurio
app=$home/apicurio-registry-app-$version
run=$home/run-$port
pidfile=$run/registry.pid
logfile=$run/registry.log
api=http://127.0.0.1:$port/apis/ccompat/v7

log() { printf 'registry: %s\n' "$*" >&2; }
# shellcheck source=../background_service.sh
source "$root/deploy/background_service.sh"

# The major version of a java binary, or nothing when it does not run.
java_major() {
  "$1" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}

# Apicurio Registry 3 runs on Quarkus 3.3x, which needs Java 21 or newer; the machine's default
# java may be older (Kafka is fine with 17), so look for a newer JDK beside it.
find_java() {
  local candidate major
  for candidate in "${REGISTRY_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" \
    /usr/lib/jvm/*/bin/java /opt/*/bin/java /opt/java/*/bin/java /usr/local/*/bin/java; do
    [[ -n $candidate && -x $candidate ]] || continue
    major=$(java_major "$candidate")
    if [[ -n $major ]] && ((major >= 21)); then echo "$candidate"; return 0; fi
  done
  log "Apicurio Registry needs a JDK 21 or newer and none was found (looked at REGISTRY_JAVA,"
  log "JAVA_HOME, java on PATH, /usr/lib/jvm, /opt). Install one, e.g. 'apt-get install"
  log "openjdk-21-jre-headless' or Temurin 21/25, or point REGISTRY_JAVA at its bin/java."
  return 1
}

fetch_app() {
  [[ -f $app/quarkus-run.jar ]] && return 0
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch Apicurio Registry"; exit 1; }
  log "fetching io.apicurio:apicurio-registry-app:$version (all, tar.gz) through Maven into $home"
  mkdir -p "$home"
  mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$version:tar.gz:all" -DoutputDirectory="$home"
  local tarball=$home/apicurio-registry-app-$version-all.tar.gz
  rm -rf "$app.tmp"; mkdir -p "$app.tmp"
  tar -xzf "$tarball" -C "$app.tmp"
  rm -f "$tarball"
  mv "$app.tmp" "$app"
}

# Ready means the Confluent API answers, not merely that the port is open.
ready() {
  port_open "$port" || return 1
  python3 - "$api/subjects" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

up() {
  if running; then log "already running (pid $(cat "$pidfile")) at $api"; return 0; fi
  if ready; then
    # Started elsewhere (another checkout, a container): use it, and leave stopping it to its
    # owner (no pid file here, so `down` does not touch it).
    log "a schema registry already answers at $api; using it"
    return 0
  fi
  local p
  for p in "$port" "$mport"; do
    if port_open "$p"; then log "something else already listens on 127.0.0.1:$p"; exit 1; fi
  done
  local java; java=$(find_java)
  fetch_app
  mkdir -p "$run"
  log "starting Apicurio Registry $version on 127.0.0.1:$port with $java (log: $logfile)"
  local started=$SECONDS
  # setsid: the registry must outlive the shell that started it, and `down` kills its group.
  setsid "$java" -Xms"$heap" -Xmx"$heap" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$mport" \
    -Dquarkus.http.access-log.enabled=false -Dquarkus.otel.sdk.disabled=true \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -jar "$app/quarkus-run.jar" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + ready_timeout))
  until ready; do
    if ! running; then log "registry exited during start-up; last lines of $logfile:"; tail -n 30 "$logfile" >&2; exit 1; fi
    if ((SECONDS > deadline)); then log "registry not ready after ${ready_timeout}s"; tail -n 30 "$logfile" >&2; down; exit 1; fi
    sleep 0.5
  done
  local rss; rss=$(ps -o rss= -p "$(cat "$pidfile")" | tr -d ' ')
  log "ready at $api in $((SECONDS - started)) s, RSS $((rss / 1024)) MiB"
}

down() { stop_service "registry"; }

case ${1:-} in
  up) up ;;
  down) down ;;
  status) if running; then log "running (pid $(cat "$pidfile")) at $api"; else log "not running"; exit 1; fi ;;
  java) find_java ;;
  # The app alone (its directory on stdout), for deploy/compose/images.sh.
  fetch) fetch_app >&2; echo "$app" ;;
  *) echo "usage: $0 up|down|status|java|fetch" >&2; exit 2 ;;
esac
