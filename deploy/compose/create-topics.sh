#!/bin/sh
# Topic initialisation for docker-compose.yml: runs once in the apache/kafka image before any
# VoiceLens process starts, so the consumers find their topic even before the producer runs.
# It reads the same VOICELENS_* variables as the producer and the consumers, so the layout is
# always the one `voicelens produce` checks (it refuses a conversations topic whose partition
# count differs from --partitions). Idempotent: existing topics are left alone.
set -eu

kafka_topics="${KAFKA_BIN:-/opt/kafka/bin}/kafka-topics.sh"
bootstrap="${VOICELENS_BOOTSTRAP_SERVERS:?VOICELENS_BOOTSTRAP_SERVERS is not set}"
partitions="${VOICELENS_PARTITIONS:-6}"
replication="${VOICELENS_REPLICATION_FACTOR:-1}"
conversations="${VOICELENS_TOPIC:-vcp.conversations}"

create() {
  name=$1
  count=$2
  shift 2
  "$kafka_topics" --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$name" --partitions "$count" --replication-factor "$replication" "$@"
}

create "$conversations" "$partitions"
create "$conversations.dlq" "$partitions"
create "${VOICELENS_DELIVERIES_TOPIC:-vcp.deliveries}" "$partitions"
# Dataset manifests: one compacted partition, as `voicelens produce` creates it.
create "${VOICELENS_DATASETS_TOPIC:-vcp.datasets}" 1 --config cleanup.policy=compact
echo "topics ready on $bootstrap: $conversations ($partitions partitions) and its companions"
