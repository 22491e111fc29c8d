#!/usr/bin/env bash
# `npm run demo:cluster` (after scripts/setup.sh, inside scripts/env.sh): three gateway nodes on
# 127.0.0.1, .2 and .3, one redis-server and one camera simulator, all on loopback; see
# scripts/demo-cluster.ts. exec: node takes this shell's place (the signal from npm or Ctrl-C reaches
# it directly), and --pdeathsig stops it when its parent goes; its own children are tied the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in redis-server setpriv; do
  command -v "$bin" >/dev/null || { echo "demo:cluster: $bin not found (scripts/setup.sh installs it)" >&2; exit 1; }
done
# 127.0.0.2 and .3 are loopback on Linux (the whole 127.0.0.0/8 is routed to lo).
! command -v ip >/dev/null || ip -4 route show table local 2>/dev/null | grep -q '127.0.0.0/8' ||
  { echo "demo:cluster: 127.0.0.0/8 is not routed to lo here; nodes 2 and 3 need 127.0.0.2 and .3" >&2; exit 1; }
exec setpriv --pdeathsig SIGTERM -- node --import tsx scripts/demo-cluster.ts "$@"
