#!/usr/bin/env bash
# A local three-node Apache Kafka cluster (KRaft, each node broker + controller) from the same
# Maven-fetched jars as deploy/kafka/kafka.sh, for the fault tests (tests/cluster/).
#
#   deploy/kafka/cluster.sh up|down|status|reset|bootstrap|quorum
#   deploy/kafka/cluster.sh kill N     # kill -9 node N (1-3): a crash, no clean shutdown
#   deploy/kafka/cluster.sh start N    # start node N again and wait until it has rejoined
#
# Client listeners 127.0.0.1:29092-29094 (CLUSTER_PORT is the first), controllers on
# 127.0.0.1:29192-29194 (CLUSTER_CONTROLLER_PORT). Environment: CLUSTER_HEAP (256m),
# VOICELENS_CACHE (<repo>/.cache), KAFKA_READY_TIMEOUT seconds (120).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${VOICELENS_CACHE:-$root/.cache}
base_port=${CLUSTER_PORT:-29092}
base_cport=${CLUSTER_CONTROLLER_PORT:-29192}
heap=${CLUSTER_HEAP:-256m}
ready_timeout=${KAFKA_READY_TIMEOUT:-120}
nodes=(1 2 3)
libs=$cache/kafka/libs
run=$cache/kafka/cluster-$base_port

log() { printf 'kafka-cluster: %s\n' "$*" >&2; }

port_of() { echo $((base_port + $1 - 1)); }
cport_of() { echo $((base_cport + $1 - 1)); }
dir_of() { echo "$run/node-$1"; }
pid_of() { cat "$(dir_of "$1")/kafka.pid" 2>/dev/null; }
running() { local pid; pid=$(pid_of "$1") && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

java_cmd=(java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*")

bootstrap() {
  local out=() n
  for n in "${nodes[@]}"; do out+=("127.0.0.1:$(port_of "$n")"); done
  (IFS=,; echo "${out[*]}")
}

quorum() {
  local out=() n
  for n in "${nodes[@]}"; do out+=("127.0.0.1:$(cport_of "$n")"); done
  (IFS=,; echo "${out[*]}")
}

# A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, never starting with '-'
# (what `StorageTool random-uuid` prints, without starting a JVM for each).
kafka_uuid() {
  python3 -c 'import base64, os
while True:
    u = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    if not u.startswith("-"):
        print(u); break'
}

configure() {
  local n=$1 dir; dir=$(dir_of "$n")
  mkdir -p "$dir"
  sed -e "s#@DATA_DIR@#$dir/data#" -e "s#@NODE_ID@#$n#" -e "s#@PORT@#$(port_of "$n")#g" \
    -e "s#@CONTROLLER_PORT@#$(cport_of "$n")#g" -e "s#@QUORUM@#$(quorum)#" \
    "$here/cluster.properties" >"$dir/server.properties"
}

# Formats every node that has no storage yet, with the same cluster id and the three voters
# (each with its directory id) as the initial controllers of a dynamic quorum.
format() {
  local n formatted=1
  for n in "${nodes[@]}"; do [[ -f $(dir_of "$n")/data/meta.properties ]] || formatted=0; done
  ((formatted)) && return 0
  log "formatting storage of nodes ${nodes[*]} in $run"
  local cluster_id voters=() pids=()
  cluster_id=$(kafka_uuid)
  for n in "${nodes[@]}"; do voters+=("$n@127.0.0.1:$(cport_of "$n"):$(kafka_uuid)"); done
  local initial; initial=$(IFS=,; echo "${voters[*]}")
  for n in "${nodes[@]}"; do
    rm -rf "$(dir_of "$n")/data"
    "${java_cmd[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$(dir_of "$n")/server.properties" --initial-controllers "$initial" \
      >>"$(dir_of "$n")/kafka.log" 2>&1 &
    pids+=($!)
  done
  for n in "${!pids[@]}"; do
    wait "${pids[$n]}" || { log "formatting node ${nodes[$n]} failed: see $(dir_of "${nodes[$n]}")/kafka.log"; exit 1; }
  done
}

launch() {
  local n=$1 dir; dir=$(dir_of "$n")
  if running "$n"; then return 0; fi
  if port_open "$(port_of "$n")"; then log "something else listens on 127.0.0.1:$(port_of "$n")"; exit 1; fi
  # setsid: the node outlives this shell, and kill/down signal its whole group.
  setsid "${java_cmd[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  log "node $n starting on 127.0.0.1:$(port_of "$n") (log: $dir/kafka.log)"
}

# Ready: a metadata request answered by node $1's own listener lists $2 live brokers.
brokers_seen() {
  local py=${PYTHON:-$root/.venv/bin/python}
  "$py" - "$(port_of "$1")" "$2" <<'PY'
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}", "log_level": 0})
try:
    metadata = admin.list_topics(timeout=3)
except Exception:
    sys.exit(1)
sys.exit(0 if len(metadata.brokers) >= int(sys.argv[2]) else 1)
PY
}

wait_ready() {
  local n=$1 want=$2 deadline=$((SECONDS + ready_timeout))
  until port_open "$(port_of "$n")" && brokers_seen "$n" "$want"; do
    if ! running "$n"; then
      log "node $n exited during start-up; last lines of its log:"; tail -n 30 "$(dir_of "$n")/kafka.log" >&2; exit 1
    fi
    if ((SECONDS > deadline)); then
      log "node $n not ready after ${ready_timeout}s"; tail -n 30 "$(dir_of "$n")/kafka.log" >&2; exit 1
    fi
    sleep 0.5
  done
}

live_count() {
  local n c=0
  for n in "${nodes[@]}"; do if running "$n"; then c=$((c + 1)); fi; done
  echo "$c"
}

up() {
  "$here/kafka.sh" fetch
  local n
  for n in "${nodes[@]}"; do configure "$n"; done
  format
  for n in "${nodes[@]}"; do launch "$n"; done
  for n in "${nodes[@]}"; do wait_ready "$n" "${#nodes[@]}"; done
  log "ready: $(bootstrap)"
}

stop_node() {
  local n=$1 signal=$2 pid
  pid=$(pid_of "$n") || return 0
  [[ -n $pid ]] || return 0
  kill "-$signal" -- "-$pid" 2>/dev/null || kill "-$signal" "$pid" 2>/dev/null || true
  if [[ $signal == KILL ]]; then
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  else
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "node $n did not stop in 30 s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$(dir_of "$n")/kafka.pid"
}

down() {
  local n pids=()
  # In parallel: a node stopping alone waits for the others' acknowledgement of its shutdown.
  for n in "${nodes[@]}"; do
    if running "$n"; then log "stopping node $n"; stop_node "$n" TERM & pids+=($!); fi
  done
  for n in "${pids[@]}"; do wait "$n" || true; done
  ((${#pids[@]})) || log "not running"
}

node_arg() {
  local n=${1:-}
  [[ $n =~ ^[1-3]$ ]] || { echo "usage: $0 kill|start N (N = 1, 2 or 3; NODE=N from make)" >&2; exit 2; }
  echo "$n"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status)
    rc=0
    for n in "${nodes[@]}"; do
      if running "$n"; then log "node $n running (pid $(pid_of "$n")) on 127.0.0.1:$(port_of "$n")"
      else log "node $n not running"; rc=1; fi
    done
    exit $rc ;;
  bootstrap) bootstrap ;;
  # The controller quorum as the cluster reports it: leader, voters (with directory ids), lag.
  quorum)
    "${java_cmd[@]}" org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$(bootstrap)" \
      describe --status ;;
  kill)
    n=$(node_arg "${2:-}")
    if ! running "$n"; then log "node $n is not running"; exit 1; fi
    log "kill -9 node $n (pid $(pid_of "$n"))"; stop_node "$n" KILL ;;
  start)
    n=$(node_arg "${2:-}")
    if running "$n"; then log "node $n already running"; exit 0; fi
    launch "$n"
    # Rejoined: its own listener answers and sees every live node, itself included.
    wait_ready "$n" "$(live_count)"
    log "node $n ready on 127.0.0.1:$(port_of "$n")" ;;
  reset) down; rm -rf "$run"; log "data removed" ;;
  *) echo "usage: $0 up|down|status|bootstrap|quorum|reset|kill N|start N" >&2; exit 2 ;;
esac
