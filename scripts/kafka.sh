#!/usr/bin/env bash
# Runs a single-node Apache Kafka (KRaft, broker and controller in one JVM) from the
# jars that setup.sh fetched, in the foreground, so the caller owns the process:
#
#   scripts/kafka.sh DIR PORT CONTROLLER_PORT
#
# DIR holds server.properties and the data; both are created on the first run and
# the storage is formatted with Kafka's StorageTool. A second run with the same DIR
# (after a kill -9) restarts the same broker on the same data. Listeners bind
# 127.0.0.1 only. The settings below are those the compat suite expects of any
# broker: auto topic creation off, replication factor 1 for internal topics and no
# initial rebalance delay.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"

if [ $# -ne 3 ]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
dir="$1" port="$2" controller_port="$3"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
props="$dir/server.properties"

if [ ! -f "$props" ]; then
  cat >"$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
fi

if [ ! -f "$dir/data/meta.properties" ]; then
  # A Kafka Uuid: 16 random bytes, base64url without padding. Like Kafka's own
  # Uuid.randomUuid, never one starting with '-', which argument parsers take for a flag.
  cluster_id="$(python3 -c '
import base64, uuid
while True:
    text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not text.startswith("-"):
        print(text)
        break
')"
  "$here/kafka-tool" kafka-storage format --ignore-formatted --cluster-id="$cluster_id" -c "$props" >"$dir/format.log" 2>&1 || {
    cat "$dir/format.log" >&2
    exit 1
  }
fi

exec "$here/kafka-tool" kafka-server-start "$props"
