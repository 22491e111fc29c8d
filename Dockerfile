# syntax=docker/dockerfile:1
# Same set-up script as a developer machine (scripts/setup.sh): no second recipe to drift.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY web-client ./web-client
COPY gateway/src/snapshots/snapshotter.c ./gateway/src/snapshots/
RUN apt-get update && bash scripts/setup.sh --no-check && rm -rf /var/lib/apt/lists/*
COPY . .
RUN node web-client/build.mjs

FROM node:20-bookworm-slim
# tsx runs the TypeScript directly, so dev dependencies stay. Run-time libraries of the worker (built against Debian's shared libs) and FFmpeg.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg libssl3 libuv1 libsrtp2-1 libusrsctp2 \
      libabsl20220623 python3 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
      gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
RUN useradd --system --uid 10001 cctv && mkdir -p /app/var && chown -R cctv /app/.cache /app/var
USER cctv
ENV NODE_ENV=production FFMPEG_BIN=/usr/bin/ffmpeg
# Media ports: worker i serves WebRTC on CCTV_RTC_PORT + i, UDP and TCP (0 workers = one per core, which
# a build cannot know, so the count is fixed here). EXPOSE must list exactly that range:
# tests/docker.test.ts checks it. `docker run` must publish the same range (-p 40000-40003:40000-40003/udp
# -p 40000-40003:40000-40003/tcp); to change the count, change CCTV_WORKERS and EXPOSE together.
# Media listens on every interface of the container; set CCTV_ANNOUNCED_ADDRESS (the host's address
# that phones reach) and CCTV_JWT_SECRET at run time (--env-file), never here: without a secret the
# gateway refuses to start (NODE_ENV=production).
ENV CCTV_WORKERS=4 CCTV_RTC_PORT=40000 CCTV_LISTEN_IP=0.0.0.0
EXPOSE 8080 40000-40003/udp 40000-40003/tcp
# The audit trail (var/audit.jsonl) outlives the container.
VOLUME ["/app/var"]
# env.sh execs node (no tsx CLI, which would run it as a child): the gateway is PID 1 and its children die with it.
CMD ["bash", "scripts/env.sh", "node", "--import", "tsx", "gateway/src/main.ts"]
