#!/usr/bin/env bash
# Runs a command in a private network namespace with only loopback up, so every packet a test or
# benchmark sends (WebRTC ICE included) stays on 127.0.0.0/8. Starts a Redis there (tests need one).
# Falls back to the host's network, with a warning, where namespaces are not allowed (non-root).
set -euo pipefail
if [ "${CCTV_IN_NETNS:-}" != 1 ]; then
  if unshare -n true 2>/dev/null; then
    exec unshare -n env CCTV_IN_NETNS=1 "$0" "$@"
  fi
  echo "[netns] cannot create a network namespace (need root); running on the host network" >&2
else
  ip link set lo up
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --pidfile /tmp/cctv-redis-$$.pid --logfile /tmp/cctv-redis-$$.log >/dev/null
  trap 'kill "$(cat /tmp/cctv-redis-$$.pid 2>/dev/null)" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
"$@"
