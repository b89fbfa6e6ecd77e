#!/usr/bin/env bash
# Installs everything the compat suite (tests/compat/) needs, idempotently:
#   - kcat and the JDK/Maven/venv prerequisites from Debian (apt-get update only
#     when something is missing),
#   - a Python venv with pinned pytest, confluent-kafka and kafka-python
#     (with its compression codecs) at $SLUICE_CACHE/venv,
#   - kafkajs (pinned) for Node at $SLUICE_CACHE/node,
#   - Apache Kafka's jars (server, tools, clients and their runtime
#     dependencies) from Maven Central into $SLUICE_CACHE/kafka-$KAFKA_VERSION/libs,
#     plus a quiet log4j2 config.
# A second run finds everything in place and downloads nothing.
#
#   SLUICE_CACHE=/path scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/versions.sh
. ./versions.sh

step() { printf '[setup] %s\n' "$*"; }

need_apt=()
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v iperf3 >/dev/null 2>&1 || need_apt+=(iperf3)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# Debian splits venv's pip bootstrap (ensurepip) into python3-venv.
if ! command -v python3 >/dev/null 2>&1; then
  need_apt+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_apt+=(python3-venv)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Install from the existing lists first; refresh them only when that fails.
  if ! apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
else
  step "apt: kcat, java, mvn, python3, node present"
fi

mkdir -p "$SLUICE_CACHE"

# --- Python venv -----------------------------------------------------------
venv="$SLUICE_CACHE/venv"
stamp="$venv/.sluice-requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PYTHON_REQUIREMENTS" ]; then
  step "venv: up to date at $venv"
else
  step "venv: installing $PYTHON_REQUIREMENTS into $venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the requirement list is split on purpose
  "$venv/bin/pip" install -q --disable-pip-version-check $PYTHON_REQUIREMENTS
  printf '%s' "$PYTHON_REQUIREMENTS" >"$stamp"
fi

# --- kafkajs -------------------------------------------------------------------
node_dir="$SLUICE_CACHE/node"
node_stamp="$node_dir/.sluice-requirements"
if [ -d "$node_dir/node_modules" ] && [ -f "$node_stamp" ] && [ "$(cat "$node_stamp")" = "$NODE_REQUIREMENTS" ]; then
  step "node: up to date at $node_dir"
else
  step "node: installing $NODE_REQUIREMENTS into $node_dir"
  mkdir -p "$node_dir"
  # shellcheck disable=SC2086 # the requirement list is split on purpose
  npm install --prefix "$node_dir" --no-audit --no-fund --silent $NODE_REQUIREMENTS
  printf '%s' "$NODE_REQUIREMENTS" >"$node_stamp"
fi

# --- Apache Kafka jars -------------------------------------------------------
kafka_home="$SLUICE_CACHE/kafka-$KAFKA_VERSION"
if [ -f "$kafka_home/libs/.complete" ]; then
  step "kafka: $KAFKA_VERSION jars present in $kafka_home/libs"
else
  step "kafka: fetching $KAFKA_VERSION jars from Maven Central into $kafka_home/libs"
  mkdir -p "$kafka_home"
  sed "s/@KAFKA_VERSION@/$KAFKA_VERSION/g" kafka-pom.xml >"$kafka_home/pom.xml"
  rm -rf "$kafka_home/libs"
  if ! mvn -B -Dstyle.color=never -f "$kafka_home/pom.xml" \
    -Dmaven.repo.local="$SLUICE_CACHE/m2" \
    dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$kafka_home/libs" >"$kafka_home/mvn.log" 2>&1; then
    tail -n 40 "$kafka_home/mvn.log" >&2
    exit 1
  fi
  touch "$kafka_home/libs/.complete"
fi

mkdir -p "$kafka_home/config"
if cmp -s log4j2.yaml "$kafka_home/config/log4j2.yaml"; then
  step "kafka: log4j2 config present"
else
  step "kafka: writing log4j2 config"
  cp log4j2.yaml "$kafka_home/config/log4j2.yaml"
fi

step "done: SLUICE_CACHE=$SLUICE_CACHE KAFKA_HOME=$kafka_home"
