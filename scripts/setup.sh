#!/usr/bin/env bash
# One idempotent set-up for a Debian 12 + Node 20 machine (also used by the Dockerfile):
#   1. Debian packages that are missing   2. npm dependencies when the lockfile changed
#   3. the web client   4. mediasoup worker built from Debian's libraries (cached)   5. a check that it all runs
# Writes .cache/env with MEDIASOUP_WORKER_BIN and FFMPEG_BIN; scripts/env.sh loads it.
# Usage: scripts/setup.sh [--no-apt] [--no-check]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
no_apt=0; no_check=0
for a in "$@"; do
  case "$a" in --no-apt) no_apt=1 ;; --no-check) no_check=1 ;; *) echo "setup: unknown option $a" >&2; exit 2 ;; esac
done

step() { printf '[setup] %s\n' "$*" >&2; }
fail() { printf '[setup] FAILED at step "%s": %s\n  what to do: %s\n' "$1" "$2" "$3" >&2; exit 1; }
t0=$(date +%s)

# 1. Debian packages --------------------------------------------------------------------------
PKGS=(meson ninja-build pkg-config g++ python3 libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev
  nlohmann-json3-dev ffmpeg chromium gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly redis-server janus prometheus nginx coturn iproute2 util-linux
  procps libavcodec-dev libswscale-dev libavutil-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$no_apt" = 1 ] && fail apt "missing Debian packages: ${missing[*]}" "install them, or run without --no-apt as root"
  [ "$(id -u)" = 0 ] || fail apt "missing Debian packages: ${missing[*]}" "run as root, or: sudo apt-get install ${missing[*]}"
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq || fail apt "apt-get update failed" "check the apt sources and network"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      fail apt "apt-get install ${missing[*]} failed" "read apt's message above"
  fi
fi

# 2. npm dependencies ---------------------------------------------------------------------------
# Install scripts are skipped on purpose: ffmpeg-static and mediasoup would download binaries.
export FFMPEG_BIN=/usr/bin/ffmpeg
stamp=node_modules/.cctv-lock-hash
want=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step "npm ci"
  MEDIASOUP_WORKER_BIN=/nonexistent npm ci --ignore-scripts --no-audit --no-fund --loglevel=error ||
    fail npm "npm ci failed" "check that the npm registry is reachable and package-lock.json is committed"
  echo "$want" > "$stamp"
fi

# 3. web client (esbuild, well under a second) ---------------------------------------------------
node web-client/build.mjs || fail web-client "the web client did not build" "read esbuild's message above"

# 4. mediasoup worker ---------------------------------------------------------------------------
worker=$(node scripts/build-mediasoup-worker.mjs) || exit 1
mkdir -p .cache
cat > .cache/env <<ENV
export MEDIASOUP_WORKER_BIN='$worker'
export FFMPEG_BIN=/usr/bin/ffmpeg
ENV

# 4b. snapshot decoder (gateway/src/snapshots/snapshotter.c), cached by the hash of its source ------
snap_src=gateway/src/snapshots/snapshotter.c
snap_hash=$(sha256sum "$snap_src" | cut -c1-12)
snapshotter="$root/.cache/snapshotter/$snap_hash/snapshotter"
if [ ! -x "$snapshotter" ]; then
  step "building the snapshot decoder"
  mkdir -p "$(dirname "$snapshotter")"
  # shellcheck disable=SC2046
  gcc -O2 -Wall -o "$snapshotter.tmp" "$snap_src" $(pkg-config --cflags --libs libavcodec libswscale libavutil) ||
    fail snapshotter "the snapshot decoder did not compile" "read gcc's message above (libavcodec-dev, libswscale-dev)"
  mv "$snapshotter.tmp" "$snapshotter"
fi
# The gateway's default path (snapshots.decoderPath) is this link to the current build.
ln -sfn "$snap_hash/snapshotter" .cache/snapshotter/snapshotter

# 5. check that it runs -------------------------------------------------------------------------
if [ "$no_check" = 0 ]; then
  MEDIASOUP_WORKER_BIN="$worker" node scripts/check.mjs ||
    fail check "the built parts do not run" "read the message above; delete .cache/mediasoup-worker to rebuild"
fi
step "ready in $(($(date +%s) - t0)) s (worker: ${worker#"$root"/})"
