#!/usr/bin/env bash
# Builds `sluice` in release mode and runs the standard benchmark suite
# (`sluice bench all`) against a broker it starts itself and, side by side,
# a single-node Apache Kafka (jars from scripts/setup.sh). Any flags are
# passed on; see `sluice bench all --help`.
#
#   scripts/bench-all.sh --duration-per-run 5s --markdown bench.md --report bench.html
#
# Debug builds measure the compiler's debug code, not the broker: always
# benchmark a release build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release -p sluice
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec "$target_dir/release/sluice" bench all --scripts-dir "$root/scripts" "$@"
