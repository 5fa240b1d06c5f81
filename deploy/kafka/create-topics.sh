#!/bin/sh
# Creates the topics of design §1 on Apache Kafka, once (--if-not-exists), then exits.
# Runs in the apache/kafka image (docker-compose.yml: kafka-topics). Names and cleanup policies
# are those of shared/postbacks/topics.py (tests/test_deploy_files.py checks they agree); the
# partition counts here are production's, larger than the embedded broker's: a partition is the
# unit of parallelism, so the number of dispatchers (or log-writers) that can share a topic's
# work is at most its partition count. Partitions can be added later, never removed.
set -eu
BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka:9092}"
REPLICATION="${KAFKA_REPLICATION_FACTOR:-1}"        # 3 on a real cluster
INPUT_PARTITIONS="${INPUT_PARTITIONS:-12}"          # clicks, conversions, events
ATTEMPT_PARTITIONS="${ATTEMPT_PARTITIONS:-12}"      # postbacks.attempts
RETENTION_MS="${INPUT_RETENTION_MS:-604800000}"     # 7 days of inputs to replay from

create() {
  # $1 name, $2 partitions, then --config pairs
  name="$1"; partitions="$2"; shift 2
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$name" --partitions "$partitions" --replication-factor "$REPLICATION" "$@"
}

create clicks "$INPUT_PARTITIONS" --config "retention.ms=$RETENTION_MS"
create conversions "$INPUT_PARTITIONS" --config "retention.ms=$RETENTION_MS"
create events "$INPUT_PARTITIONS" --config "retention.ms=$RETENTION_MS"
create postbacks.attempts "$ATTEMPT_PARTITIONS" --config "retention.ms=$RETENTION_MS"
# Compacted: the newest configuration per postback id is kept forever, so a dispatcher that
# reads the topic from the beginning rebuilds the whole set.
create postbacks.configs 1 --config cleanup.policy=compact
create postbacks.refires 3
# Dead letters are kept 30 days: long enough for someone to read why and replay them.
create postbacks.dlq 1 --config retention.ms=2592000000
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --describe | grep -E '^Topic:'
