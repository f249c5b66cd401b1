#!/usr/bin/env bash
# Start, stop or check a single-node Apache Kafka (KRaft) broker built from the official jars,
# fetched through Maven into .cache/kafka. Idempotent: `up` on a running broker changes nothing.
#
#   deploy/kafka/kafka.sh up|down|status|reset|fetch
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (512m),
# VOICELENS_CACHE (<repo>/.cache), KAFKA_READY_TIMEOUT seconds (90).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${VOICELENS_CACHE:-$root/.cache}
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-9093}
heap=${KAFKA_HEAP:-512m}
ready_timeout=${KAFKA_READY_TIMEOUT:-90}
home=$cache/kafka
libs=$home/libs
run=$home/run-$port
data=$run/data
pidfile=$run/kafka.pid
logfile=$run/kafka.log

log() { printf 'kafka: %s\n' "$*" >&2; }
# shellcheck source=../background_service.sh
source "$root/deploy/background_service.sh"

fetch_jars() {
  local stamp=$libs/.pom.sha256 want
  want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the Kafka jars"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is required to run the broker"; exit 1; }
  log "fetching Apache Kafka jars through Maven into $libs"
  rm -rf "$libs"; mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  echo "$want" >"$stamp"
}

java_cmd=(java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*")

up() {
  if running; then log "already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; return 0; fi
  if port_open "$port"; then log "something else already listens on 127.0.0.1:$port"; exit 1; fi
  fetch_jars
  mkdir -p "$run"
  sed -e "s#@DATA_DIR@#$data#" -e "s#@PORT@#$port#g" -e "s#@CONTROLLER_PORT@#$cport#g" \
    "$here/server.properties" >"$run/server.properties"
  if [[ ! -f $data/meta.properties ]]; then
    log "formatting storage in $data"
    local cluster_id
    cluster_id=$("${java_cmd[@]}" kafka.tools.StorageTool random-uuid)
    "${java_cmd[@]}" kafka.tools.StorageTool format --standalone --ignore-formatted \
      -t "$cluster_id" -c "$run/server.properties" >>"$logfile" 2>&1
  fi
  log "starting broker on 127.0.0.1:$port (log: $logfile)"
  # setsid: the broker must outlive the shell that started it, and `down` kills its group.
  setsid "${java_cmd[@]}" kafka.Kafka "$run/server.properties" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + ready_timeout))
  until ready; do
    if ! running; then log "broker exited during start-up; last lines of $logfile:"; tail -n 30 "$logfile" >&2; exit 1; fi
    if ((SECONDS > deadline)); then log "broker not ready after ${ready_timeout}s"; tail -n 30 "$logfile" >&2; down; exit 1; fi
    sleep 0.5
  done
  log "ready on 127.0.0.1:$port"
}

# Ready means the broker answers a metadata request, not merely that the port is open: with
# the project's virtualenv, ask it through librdkafka; without it, wait for the broker's own
# "started" line, which it logs only after its listeners accept requests.
ready() {
  port_open "$port" || return 1
  local py=${PYTHON:-$root/.venv/bin/python}
  if [[ -x $py ]] && "$py" -c 'import confluent_kafka' 2>/dev/null; then
    "$py" - "$port" <<'PY'
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}", "log_level": 0})
try:
    metadata = admin.list_topics(timeout=2)
except Exception:
    sys.exit(1)
sys.exit(0 if metadata.brokers else 1)
PY
  else
    grep -q 'Kafka Server started\|BrokerServer.*started' "$logfile"
  fi
}

down() { stop_service "broker"; }

case ${1:-} in
  up) up ;;
  down) down ;;
  status) if running; then log "running (pid $(cat "$pidfile"))"; else log "not running"; exit 1; fi ;;
  reset) down; rm -rf "$run"; log "data removed" ;;
  # The jars alone, for deploy/kafka/cluster.sh.
  fetch) fetch_jars ;;
  *) echo "usage: $0 up|down|status|reset|fetch" >&2; exit 2 ;;
esac
