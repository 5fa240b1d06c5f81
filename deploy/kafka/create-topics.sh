#!/bin/sh
# Creates the topics of design §1 on Apache Kafka, once (--if-not-exists), then exits.
# Runs in the apache/kafka image (docker-compose.yml: kafka-topics). Names, retention,
# compression and cleanup policies are those of shared/postbacks/topics.py, which says why
# (tests/test_deploy_files.py checks they agree); the partition counts here are production's,
# larger than the embedded broker's: a partition is the unit of parallelism, so the number of
# dispatchers (or log-writers) that can share a topic's work is at most its partition count.
# Partitions can be added later, never removed. The capacity plan (docs/production.md) sizes
# the brokers' disks by these retentions.
set -eu
BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka:9092}"
REPLICATION="${KAFKA_REPLICATION_FACTOR:-1}"              # 3 on a real cluster
INPUT_PARTITIONS="${INPUT_PARTITIONS:-12}"                # clicks, conversions, events
ATTEMPT_PARTITIONS="${ATTEMPT_PARTITIONS:-12}"            # postbacks.attempts
INPUT_RETENTION_MS="${INPUT_RETENTION_MS:-604800000}"     # 7 days of inputs to replay from
ATTEMPT_RETENTION_MS="${ATTEMPT_RETENTION_MS:-259200000}" # 3 days: the log-writer's outage room
# The broker keeps each batch as its producer compressed it (ours: lz4, bench/README.md).
KEEP_CODEC="compression.type=producer"

create() {
  # $1 name, $2 partitions, then --config pairs
  name="$1"; partitions="$2"; shift 2
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$name" --partitions "$partitions" --replication-factor "$REPLICATION" "$@"
}

create clicks "$INPUT_PARTITIONS" --config "retention.ms=$INPUT_RETENTION_MS" --config "$KEEP_CODEC"
create conversions "$INPUT_PARTITIONS" --config "retention.ms=$INPUT_RETENTION_MS" --config "$KEEP_CODEC"
create events "$INPUT_PARTITIONS" --config "retention.ms=$INPUT_RETENTION_MS" --config "$KEEP_CODEC"
create postbacks.attempts "$ATTEMPT_PARTITIONS" --config "retention.ms=$ATTEMPT_RETENTION_MS" --config "$KEEP_CODEC"
# Compacted: the newest configuration per postback id is kept forever, so a dispatcher that
# reads the topic from the beginning rebuilds the whole set.
create postbacks.configs 1 --config cleanup.policy=compact --config "$KEEP_CODEC"
create postbacks.refires 3 --config retention.ms=604800000 --config "$KEEP_CODEC"
# Dead letters are kept 30 days: long enough for someone to read why and replay them.
create postbacks.dlq 1 --config retention.ms=2592000000 --config "$KEEP_CODEC"
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --describe | grep -E '^Topic:'
