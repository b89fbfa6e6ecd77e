#!/usr/bin/env bash
# The one test command (README "Test"): installs what the tests need when it is
# missing (idempotent, cached), then runs every test suite of the repository.
#
#   scripts/test.sh            # everything
#   SKIP_SETUP=1 scripts/test.sh  # assume scripts/setup.sh already ran
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

if [ -f scripts/compat.sh ] && [ -n "${COMPAT_MARKERS:-}" ]; then
  step "real Kafka clients against a sluice broker (markers: $COMPAT_MARKERS)"
  cargo build --locked -p sluice
  SLUICE_BIN="$PWD/target/debug/sluice" bash scripts/compat.sh sluice -m "$COMPAT_MARKERS"
fi
