#!/usr/bin/env bash
# Runs the real-client compat suite (tests/compat/) against one broker and exits with
# pytest's code. Assumes scripts/setup.sh has run (it installs nothing).
#
#   scripts/compat.sh kafka                 # Apache Kafka from the cached jars
#   scripts/compat.sh sluice -m codecs      # $SLUICE_BIN (default target/release/sluice)
#   scripts/compat.sh kafka -k groups -x    # any further pytest arguments
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"

broker="${1:-kafka}"
case "$broker" in
  kafka | sluice) shift || true ;;
  -*) broker="${COMPAT_BROKER:-kafka}" ;;
  *)
    echo "usage: scripts/compat.sh [kafka|sluice] [pytest args...]" >&2
    exit 2
    ;;
esac

python="$SLUICE_CACHE/venv/bin/python"
if [ ! -x "$python" ]; then
  echo "compat: no venv at $SLUICE_CACHE/venv: run scripts/setup.sh first" >&2
  exit 2
fi
if [ "$broker" = sluice ]; then
  export SLUICE_BIN="${SLUICE_BIN:-$here/../target/release/sluice}"
fi

cd "$here/../tests/compat"
exec "$python" -m pytest -p no:cacheprovider --broker="$broker" "$@"
