#!/usr/bin/env bash
# Start, stop or check the local secured Kafka broker: one KRaft node from the same Maven jars as
# deploy/kafka/kafka.sh, speaking only SASL_SSL (SCRAM-SHA-512) and authorizing every request
# with KRaft's StandardAuthorizer (no ACL, no access). It runs beside the plain broker (9092),
# the cluster (29092-29094) and the registry (8081), on ports of its own.
#
#   deploy/kafka/secure.sh up|down|status|reset|bootstrap|state-dir|acls [ARGS]
#
# `up` makes, when missing, a CA and the broker's certificate (openssl), a password per
# principal, the storage with every principal's SCRAM-SHA-512 credentials, and then grants each
# principal its least-privilege ACLs on the default topic, group and transactional-id names
# (deploy/kafka/acls.py; deploy/kafka/acls.toml lists them). `acls` passes ARGS to acls.py.
# Passwords live in files (mode 600) under the state dir and are never printed.
#
# Environment: SECURE_KAFKA_PORT (39092), SECURE_KAFKA_CONTROLLER_PORT (39093),
# SECURE_KAFKA_HEAP (384m), VOICELENS_CACHE (<repo>/.cache), KAFKA_READY_TIMEOUT seconds (150).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${VOICELENS_CACHE:-$root/.cache}
port=${SECURE_KAFKA_PORT:-39092}
cport=${SECURE_KAFKA_CONTROLLER_PORT:-39093}
heap=${SECURE_KAFKA_HEAP:-384m}
ready_timeout=${KAFKA_READY_TIMEOUT:-150}
libs=$cache/kafka/libs
state=$cache/kafka/secure-$port
pidfile=$state/kafka.pid
logfile=$state/kafka.log
py=${PYTHON:-$root/.venv/bin/python}
#: Every principal; the passwords of all but admin are what each command's
#: VOICELENS_KAFKA_CONFIG carries (sasl.username / sasl.password).
principals=(admin voicelens-produce voicelens-deliver voicelens-replay voicelens-report)

log() { printf 'kafka-secure: %s\n' "$*" >&2; }
# shellcheck source=../background_service.sh
source "$root/deploy/background_service.sh"

java_cmd=(java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*")

# A CA and the broker's certificate for 127.0.0.1 and localhost (EC P-256, 30 days; a stale one
# is made again at the next `up`), as the PEM files Kafka's ssl.keystore.type=PEM reads: the
# unencrypted PKCS#8 key followed by the certificate.
make_tls() {
  local tls=$state/tls
  if [[ -f $tls/broker.pem ]] && openssl x509 -checkend 86400 -noout -in "$tls/broker.crt" >/dev/null 2>&1; then
    return 0
  fi
  command -v openssl >/dev/null || { log "openssl is required to make the broker's certificate"; exit 1; }
  log "making a CA and the broker's certificate in $tls"
  rm -rf "$tls"; mkdir -p "$tls"; chmod 700 "$tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=VoiceLens local secured Kafka CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/broker.key" 2>/dev/null
  openssl req -new -key "$tls/broker.key" -subj "/CN=127.0.0.1" -out "$tls/broker.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth,clientAuth" \
    >"$tls/broker.ext"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 30 -extfile "$tls/broker.ext" -out "$tls/broker.crt" 2>/dev/null
  cat "$tls/broker.key" "$tls/broker.crt" >"$tls/broker.pem"
  chmod 600 "$tls"/*.key "$tls/broker.pem"
}

password_file() { echo "$state/credentials/$1.password"; }

make_passwords() {
  local p f
  mkdir -p "$state/credentials"; chmod 700 "$state/credentials"
  for p in "${principals[@]}"; do
    f=$(password_file "$p")
    if [[ ! -s $f ]]; then (umask 077; openssl rand -hex 24 >"$f"); fi
  done
}

configure() {
  local admin_password; admin_password=$(cat "$(password_file admin)")
  (umask 077
   sed -e "s#@STATE_DIR@#$state#g" -e "s#@PORT@#$port#g" -e "s#@CONTROLLER_PORT@#$cport#g" \
     -e "s#@ADMIN_PASSWORD@#$admin_password#g" "$here/secure.properties" >"$state/server.properties"
   # For Kafka's own CLI tools (kafka-acls, kafka-topics): --command-config of the admin.
   printf '%s\n' "security.protocol=SASL_SSL" "sasl.mechanism=SCRAM-SHA-512" \
     "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin_password\";" \
     "ssl.truststore.type=PEM" "ssl.truststore.location=$state/tls/ca.pem" >"$state/admin.properties")
}

# Every principal's SCRAM-SHA-512 credentials are written into the metadata at format time, so
# the broker authenticates them (itself included) from its first start.
format() {
  log "formatting storage in $state/data with the SCRAM-SHA-512 users ${principals[*]}"
  local p scram=()
  for p in "${principals[@]}"; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$p,password=$(cat "$(password_file "$p")")]")
  done
  local cluster_id
  cluster_id=$("${java_cmd[@]}" kafka.tools.StorageTool random-uuid)
  # Its standard output lists the bootstrap records, SCRAM salts and keys included: not logged.
  "${java_cmd[@]}" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
    -c "$state/server.properties" "${scram[@]}" >/dev/null 2>>"$logfile" \
    || { log "formatting failed: see $logfile"; exit 1; }
}

# Ready: the admin, over SASL_SSL with the CA, gets a metadata answer listing the broker.
ready() {
  port_open "$port" || return 1
  "$py" - "$port" "$state" <<'PY'
import sys
from pathlib import Path
from confluent_kafka.admin import AdminClient
state = Path(sys.argv[2])
admin = AdminClient({
    "bootstrap.servers": f"127.0.0.1:{sys.argv[1]}", "log_level": 0,
    "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
    "sasl.username": "admin",
    "sasl.password": (state / "credentials" / "admin.password").read_text().strip(),
    "ssl.ca.location": str(state / "tls" / "ca.pem"),
})
try:
    metadata = admin.list_topics(timeout=3)
except Exception:
    sys.exit(1)
sys.exit(0 if metadata.brokers else 1)
PY
}

acls() { "$py" "$here/acls.py" --bootstrap-servers "127.0.0.1:$port" --state-dir "$state" "$@"; }

up() {
  if running; then log "already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; return 0; fi
  if port_open "$port"; then log "something else already listens on 127.0.0.1:$port"; exit 1; fi
  "$py" -c 'import confluent_kafka' 2>/dev/null \
    || { log "the project's virtualenv is required ($py): run make venv"; exit 1; }
  "$here/kafka.sh" fetch
  mkdir -p "$state"; chmod 700 "$state"
  make_tls
  make_passwords
  configure
  # Formatted afresh at every start: a node restarted on its formatted store refused the admin's
  # SCRAM credentials here (the cause is not known), and this broker is a test fixture whose
  # data nobody needs to keep; the topics and ACLs are made again below.
  rm -rf "$state/data"
  format
  log "starting the secured broker on 127.0.0.1:$port (SASL_SSL; log: $logfile)"
  setsid "${java_cmd[@]}" kafka.Kafka "$state/server.properties" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + ready_timeout))
  until ready; do
    if ! running; then log "broker exited during start-up; last lines of $logfile:"; tail -n 30 "$logfile" >&2; exit 1; fi
    if ((SECONDS > deadline)); then log "broker not ready after ${ready_timeout}s"; tail -n 30 "$logfile" >&2; down; exit 1; fi
    sleep 0.5
  done
  acls grant
  log "ready on 127.0.0.1:$port (CA: $state/tls/ca.pem; passwords: $state/credentials/)"
}

down() { stop_service "the secured broker"; }

case ${1:-} in
  up) up ;;
  down) down ;;
  status) if running; then log "running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; else log "not running"; exit 1; fi ;;
  reset) down; rm -rf "$state"; log "data, certificates and passwords removed" ;;
  bootstrap) echo "127.0.0.1:$port" ;;
  state-dir) echo "$state" ;;
  acls) shift; acls "$@" ;;
  *) echo "usage: $0 up|down|status|reset|bootstrap|state-dir|acls [ARGS]" >&2; exit 2 ;;
esac
