#!/usr/bin/env bash
# Runs a command with the environment scripts/setup.sh prepared (MEDIASOUP_WORKER_BIN, FFMPEG_BIN).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$here/.cache/env" ] || { echo "env: run scripts/setup.sh first (npm test and npm run demo do)" >&2; exit 1; }
# shellcheck disable=SC1091
. "$here/.cache/env"
export PATH="$here/node_modules/.bin:$PATH"
# exec: the command takes this shell's place, so `env.sh node …` leaves no wrapper process above the gateway.
exec "$@"
