# shellcheck shell=bash
# Versions and locations shared by setup.sh, kafka.sh, kafka-tool and compat.sh
# (sourced, not run).
#
# Apache Kafka 4.3.1 is the newest 4.x release whose artifacts are all on Maven
# Central: 4.4.0 has kafka_2.13 and kafka-clients but no kafka-tools.
: "${SLUICE_CACHE:=${HOME:-/root}/.cache/sluice}"
: "${KAFKA_VERSION:=4.3.1}"
KAFKA_HOME="$SLUICE_CACHE/kafka-$KAFKA_VERSION"
# Pinned for Python 3.11; the kafka-python extras pull in its gzip/snappy/lz4/zstd codecs.
PYTHON_REQUIREMENTS="pytest==9.0.2 pytest-timeout==2.4.0 confluent-kafka==2.16.1 kafka-python[lz4,snappy,zstd,crc32c]==3.0.12"
# kafkajs, the compat suite's Node client (tests/compat/node/).
NODE_REQUIREMENTS="kafkajs@2.2.4"
export SLUICE_CACHE KAFKA_VERSION KAFKA_HOME PYTHON_REQUIREMENTS NODE_REQUIREMENTS
