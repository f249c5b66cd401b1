#!/bin/sh
# kafka-topics.sh of the official distribution, on the jars this image holds (kafka-tools).
# shellcheck disable=SC2086
exec java ${KAFKA_TOOLS_HEAP_OPTS:--Xmx128m} -XX:TieredStopAtLevel=1 \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml \
  -cp "${KAFKA_LIBS:-/opt/kafka/libs}/*" org.apache.kafka.tools.TopicCommand "$@"
