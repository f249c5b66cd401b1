#!/bin/sh
# The broker's entrypoint in the image deploy/compose/kafka/Dockerfile builds: the official
# apache/kafka image's configuration contract, so docker-compose.yml runs either image.
#   KAFKA_FOO_BAR=x   -> foo.bar=x        KAFKA_FOO__BAR -> foo_bar   KAFKA_FOO___BAR -> foo-bar
#   CLUSTER_ID        -> formats the storage on first start (16 bytes, base64)
#   KAFKA_HEAP_OPTS, KAFKA_OPTS           -> the JVM's options, not properties
# `kafka-start.sh --print-config` prints the properties and exits (tests/deploy/test_compose.py).
set -eu

config=${KAFKA_CONFIG_FILE:-/opt/kafka/config/server.properties}
libs=${KAFKA_LIBS:-/opt/kafka/libs}

properties() {
  echo "log.dirs=/var/lib/kafka/data"
  env | sort | while IFS='=' read -r name value; do
    case $name in
      KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_CONFIG_FILE | KAFKA_LIBS | KAFKA_VERSION) continue ;;
      KAFKA_*) ;;
      *) continue ;;
    esac
    key=$(printf '%s' "${name#KAFKA_}" | tr '[:upper:]' '[:lower:]' |
      sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
    printf '%s=%s\n' "$key" "$value"
  done
}

if [ "${1:-}" = --print-config ]; then
  properties
  exit 0
fi

# A later line wins in a properties file: a KAFKA_LOG_DIRS overrides the default above.
properties >"$config"
java=java
jvm="${KAFKA_HEAP_OPTS:--Xms256m -Xmx256m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20"
jvm="$jvm -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml"
data=$(sed -n 's/^log\.dirs=//p' "$config" | tail -n 1)
if [ ! -f "$data/meta.properties" ]; then
  : "${CLUSTER_ID:?CLUSTER_ID is not set: the storage cannot be formatted without it}"
  # shellcheck disable=SC2086
  $java $jvm -cp "$libs/*" kafka.tools.StorageTool format --ignore-formatted \
    -t "$CLUSTER_ID" -c "$config"
fi
# shellcheck disable=SC2086
exec $java $jvm ${KAFKA_OPTS:-} -cp "$libs/*" kafka.Kafka "$config"
