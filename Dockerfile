# syntax=docker/dockerfile:1
# Same set-up script as a developer machine (scripts/setup.sh): no second recipe to drift.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY web-client ./web-client
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
EXPOSE 8080 40000-40001/udp 40000-40001/tcp
# env.sh execs node (no tsx CLI, which would run it as a child): the gateway is PID 1 and its children die with it.
CMD ["bash", "scripts/env.sh", "node", "--import", "tsx", "gateway/src/main.ts"]
