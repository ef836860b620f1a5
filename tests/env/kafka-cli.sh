#!/usr/bin/env bash
# Kafka's own command-line tools from the cached jars, for tests and people:
#   kafka-cli.sh topics --bootstrap-server 127.0.0.1:19092 --describe --topic account_event
# Tools: topics, configs, reassign-partitions, broker-api-versions, console-producer,
# console-consumer, consumer-groups, metadata-quorum, cluster, acls, producer-perf-test.
set -euo pipefail
source "$(dirname "$0")/common.sh"
tool=${1:?usage: kafka-cli.sh TOOL ARGS...}; shift
case "$tool" in
  topics) class=org.apache.kafka.tools.TopicCommand ;;
  configs) class=kafka.admin.ConfigCommand ;;
  reassign-partitions) class=org.apache.kafka.tools.reassign.ReassignPartitionsCommand ;;
  broker-api-versions) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  console-producer) class=org.apache.kafka.tools.ConsoleProducer ;;
  console-consumer) class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  metadata-quorum) class=org.apache.kafka.tools.MetadataQuorumCommand ;;
  cluster) class=org.apache.kafka.tools.ClusterTool ;;
  acls) class=org.apache.kafka.tools.AclCommand ;;
  producer-perf-test) class=org.apache.kafka.tools.ProducerPerformance ;;
  *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
# Quick start matters more than peak speed for one-shot CLI calls.
exec java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
  -Dlog4j2.level=ERROR -Dlog4j2.rootLevel=ERROR -cp "$KAFKA_LIBS/*" "$class" "$@"
