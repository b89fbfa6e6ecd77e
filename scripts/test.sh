#!/usr/bin/env bash
# The one test command (README "Test"): installs what the tests need when it is
# missing (idempotent, cached), then runs every test suite of the repository.
#
#   scripts/test.sh                  # everything
#   SKIP_SETUP=1 scripts/test.sh     # assume scripts/setup.sh already ran
#   COMPAT_KAFKA=0 scripts/test.sh   # skip the runs against Apache Kafka
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

if [ "${SKIP_SETUP:-0}" != 1 ] && [ -f scripts/setup.sh ]; then
  step "setup (kcat, Python clients, Apache Kafka jars)"
  bash scripts/setup.sh
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (unit, property, crash, integration)"
cargo test --workspace --locked

step "compat suite: kcat, confluent-kafka, kafka-python and Kafka's Java tools against Sluice"
cargo build --locked -p sluice
SLUICE_BIN="$PWD/target/debug/sluice" bash scripts/compat.sh sluice

# The same scenarios against Apache Kafka itself: a scenario Kafka fails is a
# wrong test, not a Sluice feature. COMPAT_KAFKA=0 skips it on a dev loop.
if [ "${COMPAT_KAFKA:-1}" != 0 ]; then
  step "compat suite against Apache Kafka (differential run)"
  bash scripts/compat.sh kafka

  step "Rust producer and consumer integration tests against Apache Kafka"
  SLUICE_TEST_BROKER=kafka cargo test --locked -p sluice-producer -p sluice-consumer --tests
fi
