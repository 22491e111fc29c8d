#!/usr/bin/python3
"""Multi-camera RTSP simulator built on GStreamer's gst-rtsp-server (PyGObject).

Serves one mount per camera, /<id>, from pre-encoded Annex-B clips (H.264 or
H.265, SPS/PPS before every IDR, length a whole number of closed GOPs; H.265
without B-frames, H.264 with or without them, see Clip).
Each distinct clip is parsed once into length-prefixed (avc/hvc1) access units;
one drift-free GLib timer per clip stamps the current one with its ideal due
time and pushes it into the appsrc of every active media that plays it, so N
cameras cost N payloaders and no encoders or parsers. Media are shared per
mount. Optional G.711 audio (PCMU or PCMA) is a 440 Hz tone encoded once
and paced by the same timer: a live audiotestsrc would make the media report
itself seekable, and gst then fails PLAY with 503 when it cannot seek appsrc.

Usage: /usr/bin/python3 camsim.py --spec spec.json [--control-stdin]

The spec is JSON: {"address": "127.0.0.1", "port": 8554, "cameras": [{"id":
"cam1", "codec": "h264", "fps": 25, "audio": false, "auth": null, "clip":
"/abs/clip.h264"}, ...]} (other camera fields are ignored here); a camera may
also give "transports": ["tcp"] or ["udp"] (default both; a SETUP asking for
another lower transport gets 461 Unsupported Transport) and "bframes": N (its
clip must then have B-frames; their order comes from the clip itself). Port 0 binds any free
port. stdout carries one JSON object per line: {"event": "ready", "port": N}
once listening, then media-up/media-down/camera-stopped/... and what clients
do: {"event": "auth", "id", "ok", "method", "user"} for each login attempt on a
protected mount (a request gst authenticates, DESCRIBE or SETUP, carrying an
Authorization header; never the password, see MountAuth), {"event":
"auth-challenge", "id"} for each 401 answered to a request without one, and
{"event": "keyframe-request", "id", "forced"} for each RTCP PLI/FIR that
reached the mount (see CameraFactory._on_upstream_event).
With --control-stdin, JSON commands are read from stdin ({"cmd": "stop-camera",
"id": "cam1"} or "start-camera") and the process exits when stdin closes, so it
never outlives its parent. SIGTERM/SIGINT exit cleanly with status 0.

A camera with "clock": true has no clip: it draws the wall-clock time into
each frame and encodes it live (x264 zerolatency; see ClockFeeder), for
glass-to-glass delay benchmarks. Its encoded frames can also be sent as plain
RTP to a host:port ({"cmd": "rtp-push", "id", "host", "port", "ssrc", "pt"};
"rtp-stop" ends it), the no-RTSP reference path of those benchmarks. With
"keyframeOnRequest": false it ignores keyframe requests (still reported as
keyframe-request events, forced false), like a camera that ignores PLI.

Every camera also speaks ONVIF Media (see OnvifServer): SOAP over HTTP on the same
address, its own port (spec "onvifPort", 0 = any free one, given in the ready event as
"onvifPort"), at /onvif/<id>/media_service (ver10 media) or /onvif/<id>/media2_service
(ver20 media2, either one answers both). GetProfiles lists the profile "main" (this
mount) and "sub" (the mount named by the camera's "onvifSub"); SetSynchronizationPoint
makes a clock camera's encoder send an IDR at the next frame, keyframeOnRequest false or
not (that flag models ignoring RTCP PLI, which is what ONVIF works around), throttled as PLIs
are. A clip camera has no encoder: it answers success without effect (forced false), as
cameras with a fixed GOP do. A camera with "auth" wants a WS-Security UsernameToken with
PasswordDigest of those credentials (HTTP 400, ter:NotAuthorized otherwise); one with
"onvif": false answers 404, as a camera without ONVIF. Each SOAP request to a camera's
path is an {"event": "onvif", "id", "op", "ok", "forced", "status", ...} line.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer, GstVideo  # noqa: E402,F401

ID_RE = re.compile(r"^[A-Za-z0-9._-]+$")
# A new media waits for an IDR; beyond this many queued buffers its appsrc is
# not draining (prepared but not yet playing) and a backlog would burst on PLAY.
MAX_BACKLOG = 50
ANONYMOUS_ROLE = "anonymous"
# Access units are kept length-prefixed: the payloader then walks NAL lengths
# instead of scanning every byte for start codes, and no parser runs per mount.
PACKETIZED = {"h264": "avc", "h265": "hvc1"}
AUDIO_CODECS = {"pcmu": ("mulawenc", "rtppcmupay", 0),  # encoder, payloader, static PT
                "pcma": ("alawenc", "rtppcmapay", 8)}
TRANSPORTS = {"tcp": GstRtsp.RTSPLowerTrans.TCP, "udp": GstRtsp.RTSPLowerTrans.UDP}
# A clock camera forces at most one IDR per this interval, however many PLIs arrive: a burst of
# viewers (or one lossy link) must not turn the stream into all-IDR.
KEYFRAME_MIN_INTERVAL_US = 500_000

_stdout_lock = threading.Lock()


def emit(event, **fields):
    """Write one JSON event line; a single locked write keeps lines whole across threads."""
    line = json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n"
    with _stdout_lock:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass  # parent stopped reading; events are advisory


class Clip:
    """An Annex-B clip parsed once into length-prefixed GstBuffers, one per access unit.

    strip_parameter_sets drops the in-band SPS/PPS (H.264 NAL types 7, 8): the camera then sends
    them only in its SDP (sprop-parameter-sets, from the caps' codec_data), as some cameras do.

    An Annex-B file has no timestamps and h264parse gives access units in decode order with no PTS,
    so an H.264 clip with B-frames is reordered here: `offsets[i]` is access unit i's display index
    minus its decode index (from the slice headers' picture order counts, see h264_display_offsets)
    and `reorder` the frames of delay that keep every PTS at or after its DTS (0 without B-frames,
    1 for B-frames without pyramid). None and 0 when decode order is display order.
    """

    def __init__(self, path, codec, strip_parameter_sets=False):
        pipeline = Gst.parse_launch(
            f"filesrc location=\"{path}\" ! {codec}parse ! "
            f"video/x-{codec},stream-format={PACKETIZED[codec]},alignment=au ! "
            "appsink name=sink sync=false")
        sink = pipeline.get_by_name("sink")
        pipeline.set_state(Gst.State.PLAYING)
        self.caps = None
        self.buffers = []  # (Gst.Buffer, is_keyframe)
        units = []  # the access units as parsed, parameter sets included, for the POC scan
        while True:
            sample = sink.emit("pull-sample")
            if sample is None:
                break
            if self.caps is None:
                self.caps = sample.get_caps().to_string()
            src = sample.get_buffer()
            ok, info = src.map(Gst.MapFlags.READ)
            if not ok:
                raise RuntimeError(f"cannot map a buffer of {path}")
            key = not src.has_flags(Gst.BufferFlags.DELTA_UNIT)
            # Own the bytes: the parser's buffers die with its pipeline.
            data = bytes(info.data)
            if codec == "h264":
                units.append(data)
            if strip_parameter_sets:
                data = strip_h264_parameter_sets(data)
            buf = Gst.Buffer.new_wrapped(data)
            src.unmap(info)
            if not key:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            self.buffers.append((buf, key))
        pipeline.set_state(Gst.State.NULL)
        if not self.buffers or not self.buffers[0][1]:
            raise RuntimeError(f"{path}: empty or does not start with a keyframe")
        self.bytes = sum(b.get_size() for b, _ in self.buffers)
        self.offsets = h264_display_offsets(units) if units else None
        self.reorder = max(-o for o in self.offsets) if self.offsets else 0


class BitReader:
    """MSB-first reader of an RBSP (emulation prevention bytes already removed)."""

    def __init__(self, data):
        self._data, self._pos = data, 0

    def u(self, n):
        value = 0
        for _ in range(n):
            byte = self._data[self._pos >> 3]  # IndexError past the end: the caller gives up
            value = value << 1 | (byte >> (7 - (self._pos & 7)) & 1)
            self._pos += 1
        return value

    def ue(self):
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self):
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def rbsp(nal):
    """A BitReader over a NAL unit's payload: header byte and emulation prevention bytes dropped."""
    return BitReader(nal[1:].replace(b"\x00\x00\x03", b"\x00\x00"))


def avc_nals(data):
    """The NAL units of an avc access unit (4-byte lengths)."""
    pos = 0
    while pos + 4 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        yield data[pos + 4:pos + 4 + size]
        pos += 4 + size


# High-profile family: their SPS carries chroma format, bit depths and scaling lists.
H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def parse_h264_sps(nal):
    """(sps id, the fields a slice header's POC needs) of an SPS NAL unit."""
    r = rbsp(nal)
    profile = r.u(8)
    r.u(16)  # constraint flags, level_idc
    sps_id, sps = r.ue(), {"separate_colour_plane": 0}
    if profile in H264_HIGH_PROFILES:
        chroma = r.ue()
        if chroma == 3:
            sps["separate_colour_plane"] = r.u(1)
        r.ue(), r.ue(), r.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if r.u(1):  # seq_scaling_matrix_present: skip the lists
            for i in range(8 if chroma != 3 else 12):
                if r.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + r.se() + 256) % 256
                        last = nxt or last
    sps["log2_max_frame_num"] = r.ue() + 4
    sps["poc_type"] = r.ue()
    if sps["poc_type"] != 0:
        return sps_id, sps  # type 2: output order is decode order; type 1: not handled
    sps["log2_max_poc_lsb"] = r.ue() + 4
    r.ue(), r.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    r.ue(), r.ue()  # size in macroblocks
    sps["frame_mbs_only"] = r.u(1)
    return sps_id, sps


def h264_display_offsets(units):
    """Per access unit (avc, decode order), display index minus decode index; None when all are 0.

    Display order is picture order count (POC type 0, H.264 8.2.1.1) within each IDR period, which
    is exact for closed GOPs. Streams this does not handle (POC type 1, field pictures, missing
    parameter sets, unparseable headers) also give None: they are then served in decode order, as
    before B-frames were supported.
    """
    sps_by_id, sps_of_pps, pocs = {}, {}, []
    period, prev_msb, prev_lsb = -1, 0, 0
    try:
        for data in units:
            first_slice = None
            for nal in avc_nals(data):
                kind = nal[0] & 0x1F
                if kind == 7:
                    sps_id, sps = parse_h264_sps(nal)
                    sps_by_id[sps_id] = sps
                elif kind == 8:
                    r = rbsp(nal)
                    pps_id = r.ue()
                    sps_of_pps[pps_id] = r.ue()
                elif kind in (1, 5) and first_slice is None:
                    first_slice = nal
            if first_slice is None:
                return None
            r = rbsp(first_slice[:64])  # the header fields up to the POC fit in a few bytes
            r.ue(), r.ue()  # first_mb_in_slice, slice_type
            sps = sps_by_id[sps_of_pps[r.ue()]]
            if sps["poc_type"] != 0:
                return None
            if sps["separate_colour_plane"]:
                r.u(2)
            r.u(sps["log2_max_frame_num"])
            if not sps["frame_mbs_only"] and r.u(1):
                return None  # field pictures
            idr = first_slice[0] & 0x1F == 5
            if idr:
                r.ue()  # idr_pic_id
                period, prev_msb, prev_lsb = period + 1, 0, 0
            lsb, max_lsb = r.u(sps["log2_max_poc_lsb"]), 1 << sps["log2_max_poc_lsb"]
            if lsb < prev_lsb and prev_lsb - lsb >= max_lsb // 2:
                msb = prev_msb + max_lsb
            elif lsb > prev_lsb and lsb - prev_lsb > max_lsb // 2:
                msb = prev_msb - max_lsb
            else:
                msb = prev_msb
            if first_slice[0] & 0x60:  # a reference picture: later POCs count from it
                prev_msb, prev_lsb = msb, lsb
            pocs.append((period, msb + lsb))
    except (IndexError, KeyError, ValueError):
        return None
    if period < 0 or len(set(pocs)) != len(pocs):
        return None
    display = [0] * len(pocs)
    for shown, decoded in enumerate(sorted(range(len(pocs)), key=pocs.__getitem__)):
        display[decoded] = shown
    offsets = [shown - decoded for decoded, shown in enumerate(display)]
    return offsets if any(offsets) else None


def strip_h264_parameter_sets(data):
    """An avc access unit (4-byte NAL lengths, as h264parse writes) without its SPS and PPS."""
    out, pos = bytearray(), 0
    while pos + 4 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        nal = data[pos:pos + 4 + size]
        if len(nal) != 4 + size or size == 0:
            raise RuntimeError("strip_h264_parameter_sets: not 4-byte length-prefixed")
        if nal[4] & 0x1F not in (7, 8):
            out += nal
        pos += 4 + size
    return bytes(out)


class Tone:
    """One second of a 440 Hz sine in G.711: 440 whole cycles, so it loops seamlessly."""

    RATE = 8000

    def __init__(self, codec):
        encoder = AUDIO_CODECS[codec][0]
        pipeline = Gst.parse_launch(
            f"audiotestsrc wave=sine freq=440 volume=0.2 num-buffers=1 "
            f"samplesperbuffer={self.RATE} ! audio/x-raw,rate={self.RATE},channels=1 "
            f"! {encoder} ! appsink name=sink sync=false")
        sink = pipeline.get_by_name("sink")
        pipeline.set_state(Gst.State.PLAYING)
        data, self.caps = bytearray(), None
        while (sample := sink.emit("pull-sample")) is not None:
            self.caps = self.caps or sample.get_caps().to_string()
            buf = sample.get_buffer()
            data.extend(buf.extract_dup(0, buf.get_size()))
        pipeline.set_state(Gst.State.NULL)
        if len(data) != self.RATE:
            raise RuntimeError(f"{codec} tone: expected {self.RATE} bytes, got {len(data)}")
        self.data = bytes(data) * 2  # doubled so any one-second window is a plain slice

    def buffer(self, start, count):
        offset = start % self.RATE
        return Gst.Buffer.new_wrapped(self.data[offset:offset + count])


class Feeder:
    """Paces one clip at its frame rate into every appsrc currently playing it.

    Access units go out in decode order, one per frame period, each stamped with its due time.
    With B-frames (clip.offsets) that due time is the DTS and the PTS is the display slot,
    `reorder` frames later so no PTS precedes its DTS: rtph264pay writes RTP timestamps from PTS,
    so they go out of order like a real camera's. Audio follows presentation time.
    """

    STARTS_AT_KEYFRAME = True

    def __init__(self, clip, fps):
        self.clip = clip
        self.caps = clip.caps if clip is not None else None
        self.fps = fps
        self._lock = threading.Lock()
        self._viewers = {}  # video appsrc -> bool: has received its first keyframe
        self._audio = {}  # audio appsrc -> Tone
        self._index = 0
        self._sent = 0
        self._t0 = 0

    def attach(self, video, audio=None, tone=None):
        with self._lock:
            self._viewers[video] = False
            if audio is not None:
                self._audio[audio] = tone

    def detach(self, video, audio=None):
        with self._lock:
            self._viewers.pop(video, None)
            self._audio.pop(audio, None)

    def start(self):
        self._t0 = GLib.get_monotonic_time()
        self._schedule()

    def _schedule(self):
        # Aim at the due time of the next frame, computed from t0, so timer
        # jitter never accumulates into drift.
        due_us = self._t0 + self._sent * 1_000_000 // self.fps
        delay_ms = max(0, (due_us - GLib.get_monotonic_time() + 999) // 1000)
        GLib.timeout_add(delay_ms, self._tick)

    def _tick(self):
        due = (GLib.get_monotonic_time() - self._t0) * self.fps // 1_000_000 + 1
        if due - self._sent > self.fps:
            # Stalled for over a second (e.g. SIGSTOP): resync instead of bursting.
            self._t0 = GLib.get_monotonic_time()
            self._sent, due = 0, 1
        while self._sent < due:
            self._push_video()
            self._push_audio(self._frame_time(self._sent + self.clip.reorder))
            self._sent += 1
        self._schedule()
        return False

    def _frame_time(self, frame):
        """Running time of frame slot `frame` (counted from t0), exact to the nanosecond."""
        return self._t0 * 1000 + frame * Gst.SECOND // self.fps

    def _push_video(self):
        buf, key = self.clip.buffers[self._index]
        buf = buf.copy()  # shallow: new metadata, same memory
        buf.pts, buf.duration = self._frame_time(self._sent), Gst.SECOND // self.fps
        if self.clip.offsets:
            buf.dts = buf.pts
            buf.pts = self._frame_time(self._sent + self.clip.offsets[self._index] + self.clip.reorder)
        self._index = (self._index + 1) % len(self.clip.buffers)
        self._deliver(buf, key)

    def _deliver(self, buf, key):
        with self._lock:
            viewers = list(self._viewers.items())
        for appsrc, started in viewers:
            if appsrc.get_current_level_buffers() > MAX_BACKLOG:
                now_started = False  # not draining: resume at a keyframe once it does
            else:
                # A clip camera starts a new viewer at a keyframe; a live encoder sends what it
                # encodes next (a new RTSP session gets P-frames until an IDR, as real cameras do).
                now_started = started or key or not self.STARTS_AT_KEYFRAME
                if now_started:
                    # Shared buffer: GStreamer copies on write, the payload never.
                    appsrc.push_buffer(buf)
            if now_started != started:
                with self._lock:
                    if appsrc in self._viewers:
                        self._viewers[appsrc] = now_started

    def request_keyframe(self):
        """A viewer asked for a keyframe (RTCP PLI/FIR); True when an IDR was forced. A clip has
        no encoder: its next IDR comes when the clip reaches it."""
        return False

    def force_keyframe(self):
        """ONVIF SetSynchronizationPoint: like request_keyframe, but honoured whatever
        keyframe_on_request says. Nothing to force in a clip."""
        return False

    def _push_audio(self, pts):
        with self._lock:
            targets = list(self._audio.items())
        if not targets:
            return
        # Sample-exact split of each second across frames (e.g. 8000/30 is not whole).
        start = self._sent * Tone.RATE // self.fps
        count = (self._sent + 1) * Tone.RATE // self.fps - start
        chunks = {}
        for appsrc, tone in targets:
            if appsrc.get_current_level_buffers() > MAX_BACKLOG:
                continue
            if tone not in chunks:
                chunks[tone] = tone.buffer(start, count)
                chunks[tone].pts = pts
                chunks[tone].duration = count * Gst.SECOND // Tone.RATE
            appsrc.push_buffer(chunks[tone])


class ClockFeeder(Feeder):
    """A live camera whose every frame shows the wall-clock time it was drawn at.

    Frames are I420; three rows of 16 square blocks (side = width // 16, the
    first row's top at side // 2) carry bits, MSB first, white = 1: row 0 the
    high and row 1 the low 16 bits of (Unix time in ms) mod 2**32, row 2 their
    XOR with 0xA5A5 as a check. Below them a bar moves and a band of noise
    changes every frame, so the encoder spends its bitrate like a busy scene.
    Drawn on a drift-free timer, encoded at once by x264 (zerolatency,
    ultrafast, no B-frames, IDR every `gop` frames) and handed, one access unit
    per frame, to every appsrc attached (RTSP media and RTP pushes). A keyframe
    request (request_keyframe) makes the next frame drawn an IDR, at most once
    per KEYFRAME_MIN_INTERVAL_US, for every mount sharing this encoder; with
    keyframe_on_request False it is ignored (IDRs only every `gop` frames), as by
    a camera that does not honour PLI.
    """

    PROFILES = {"baseline": "constrained-baseline", "main": "main", "high": "high"}
    STARTS_AT_KEYFRAME = False

    def __init__(self, width, height, fps, gop, bitrate_kbps, profile, keyframe_on_request=True):
        super().__init__(None, fps)
        self.keyframe_on_request = keyframe_on_request
        if width < 128 or height < 96 or width % 2 or height % 2:
            raise ValueError(f"clock camera needs an even size of at least 128x96, got {width}x{height}")
        self.width, self.height = width, height
        self.block = width // 16
        if self.block // 2 + 4 * self.block + 8 > height:
            raise ValueError(f"clock camera: {width}x{height} is too flat (height < 4.5 x width / 16 + 8)")
        self._pushes = {}  # key -> (pipeline, appsrc)
        y_size = width * height
        self._base = bytes([90]) * y_size + bytes([128]) * (y_size // 2)
        self._frame_no = 0
        self._last_forced_us = None
        self._encoder = Gst.parse_launch(
            f"appsrc name=raw is-live=true format=time do-timestamp=false "
            f"caps=video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast threads=1 aud=false bitrate={bitrate_kbps} "
            f"key-int-max={gop} bframes=0 option-string=scenecut=0:min-keyint={gop} "
            f"! video/x-h264,profile={self.PROFILES[profile]},stream-format=avc,alignment=au "
            f"! appsink name=sink sync=false")
        self._raw = self._encoder.get_by_name("raw")
        sink = self._encoder.get_by_name("sink")
        self._encoder.set_state(Gst.State.PLAYING)
        # The RTSP mounts' caps carry codec_data (SPS/PPS): encode one frame now to learn them.
        self._raw.push_buffer(self._draw(GLib.get_monotonic_time() * 1000))
        sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        if sample is None:
            raise RuntimeError("clock camera: x264enc produced no frame")
        self.caps = sample.get_caps().to_string()
        sink.set_property("emit-signals", True)
        sink.connect("new-sample", self._on_sample)

    def _draw(self, pts):
        """One raw frame stamped with the current wall-clock time; `pts` is its monotonic capture time."""
        w, bs = self.width, self.block
        frame = bytearray(self._base)
        ms = time.time_ns() // 1_000_000 % (1 << 32)
        hi, lo = ms >> 16, ms & 0xFFFF
        rest = bytes([90]) * (w - 16 * bs)
        for row, value in enumerate((hi, lo, hi ^ lo ^ 0xA5A5)):
            line = b"".join(bytes([235 if value >> (15 - b) & 1 else 16]) * bs for b in range(16)) + rest
            top = bs // 2 + row * bs
            for y in range(top, top + bs):
                frame[y * w:(y + 1) * w] = line
        bar_w = max(8, w // 16)
        x = self._frame_no * 8 % (w - bar_w)
        bar_top = bs // 2 + 4 * bs
        noise_top = bar_top + (self.height - bar_top) // 2
        for y in range(bar_top, noise_top):
            frame[y * w + x:y * w + x + bar_w] = bytes([200]) * bar_w
        # Fresh noise every frame, so the encoder spends its bitrate as a busy real scene would.
        frame[noise_top * w:(self.height - 2) * w] = os.urandom((self.height - 2 - noise_top) * w)
        self._frame_no += 1
        buf = Gst.Buffer.new_allocate(None, len(frame), None)
        buf.fill(0, bytes(frame))
        buf.pts, buf.duration = pts, Gst.SECOND // self.fps
        return buf

    def _tick(self):
        now = GLib.get_monotonic_time()
        due = (now - self._t0) * self.fps // 1_000_000 + 1
        if due - self._sent > self.fps:
            self._t0, self._sent, due = now, 0, 1
        if self._sent < due:
            # A live camera drops what it missed: draw one frame, now, with today's time.
            self._raw.push_buffer(self._draw(now * 1000))
            self._sent = due
        self._schedule()
        return False

    def request_keyframe(self):
        if not self.keyframe_on_request:
            return False  # a camera that ignores PLI: the request is only reported
        return self.force_keyframe()

    def force_keyframe(self):
        # One throttle for PLIs and ONVIF: the encoder is one, however it is asked.
        now = GLib.get_monotonic_time()
        with self._lock:
            if self._last_forced_us is not None and now - self._last_forced_us < KEYFRAME_MIN_INTERVAL_US:
                return False
            self._last_forced_us = now
        # A serialized downstream event: appsrc queues it and sends it just before the next raw
        # frame, which x264enc then encodes as an IDR; all-headers brings SPS/PPS along with it.
        self._raw.send_event(GstVideo.video_event_new_downstream_force_key_unit(
            Gst.CLOCK_TIME_NONE, Gst.CLOCK_TIME_NONE, Gst.CLOCK_TIME_NONE, True, 0))
        return True

    def _on_sample(self, sink):
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.EOS
        src = sample.get_buffer()
        # x264enc shifts its output segment (1000 h, for DTS below PTS): map back to the capture time.
        buf = src.copy()  # shallow: new metadata, same memory
        buf.pts = sample.get_segment().to_running_time(Gst.Format.TIME, src.pts)
        buf.dts = Gst.CLOCK_TIME_NONE
        self._deliver(buf, not src.has_flags(Gst.BufferFlags.DELTA_UNIT))
        return Gst.FlowReturn.OK

    def push_rtp(self, key, host, port, ssrc, pt):
        """Also send the encoded frames as RTP (H.264, SPS/PPS before each IDR, 1200-byte packets)."""
        self.stop_rtp(key)
        pipeline = Gst.parse_launch(
            f"appsrc name=src is-live=true format=time caps=\"{self.caps}\" "
            f"! rtph264pay pt={int(pt)} ssrc={int(ssrc)} config-interval=-1 mtu=1200 "
            f"! udpsink host={host} port={int(port)} sync=false async=false")
        appsrc = pipeline.get_by_name("src")
        pipeline.set_state(Gst.State.PLAYING)
        self._pushes[key] = (pipeline, appsrc)
        self.attach(appsrc)

    def stop_rtp(self, key):
        pipeline, appsrc = self._pushes.pop(key, (None, None))
        if pipeline is not None:
            self.detach(appsrc)
            pipeline.set_state(Gst.State.NULL)


class CameraFactory(GstRtspServer.RTSPMediaFactory):
    """Media factory of one mount; all its viewers share one media."""

    def __init__(self, cam, feeder, tone, registry):
        super().__init__()
        self.cam_id = cam["id"]
        self._feeder = feeder
        self._tone = tone
        self._registry = registry
        codec = cam["codec"]
        # config-interval=0: parameter sets only in the SDP (see Clip's strip_parameter_sets).
        interval = 0 if cam.get("inbandParameterSets") is False else -1
        launch = (
            f"( appsrc name=src is-live=true format=time "
            f"caps=\"{feeder.caps}\" "
            f"! rtp{codec}pay name=pay0 pt=96 config-interval={interval} "
            + (f"mtu={int(cam['rtpMtu'])} " if cam.get("rtpMtu") else ""))
        if tone is not None:
            _, payloader, pt = AUDIO_CODECS[cam["audio"]]
            # 20 ms packets, as G.711 cameras send.
            launch += (
                f"appsrc name=asrc is-live=true format=time "
                f"caps=\"{tone.caps}\" ! {payloader} name=pay1 pt={pt} "
                f"min-ptime=20000000 max-ptime=20000000 ")
        self.set_launch(launch + ")")
        self.set_shared(True)
        # A SETUP asking for a lower transport not in this set gets 461 Unsupported Transport.
        protocols = GstRtsp.RTSPLowerTrans(0)
        for name in cam.get("transports") or TRANSPORTS:
            protocols |= TRANSPORTS[name]
        self.set_protocols(protocols)
        self.connect("media-configure", self._on_configure)

    def _on_configure(self, _factory, media):
        element = media.get_element()
        # Running time = monotonic clock time in every media, so the feeder can
        # stamp one buffer with its ideal due time and share it, jitter-free.
        media.set_clock(Gst.SystemClock.obtain())
        pipeline = element.get_parent()
        pipeline.set_start_time(Gst.CLOCK_TIME_NONE)
        pipeline.set_base_time(0)
        video, audio = element.get_by_name("src"), element.get_by_name("asrc")
        self._feeder.attach(video, audio, self._tone)
        video.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._on_upstream_event)
        self._registry.media_up(media, self.cam_id)
        media.connect("unprepared", self._on_unprepared, video, audio)

    def _on_upstream_event(self, _pad, info):
        """Keyframe requests reaching the video appsrc.

        rtpsession turns an RTCP PLI or FIR about the mount's video SSRC into an upstream
        GstForceKeyUnit, which rtph264pay/rtph265pay pass up to here. As checked with gst 1.22,
        over TCP (the stream's odd interleaved channel) and UDP (the server's RTCP port, from any
        address): a lone PLI (reduced-size RTCP) is enough, even from a sender SSRC the session
        never saw (it then charges the request to the media SSRC); a PLI about another SSRC is
        dropped. A FIR needs a known sender: a receiver report from its SSRC, earlier or in the
        same compound packet. Once a sender's reports give a round-trip time, rtpsession drops
        its repeats within two RTTs.
        """
        event = info.get_event()
        if GstVideo.video_event_is_force_key_unit(event):
            emit("keyframe-request", id=self.cam_id, forced=self._feeder.request_keyframe())
        return Gst.PadProbeReturn.OK

    def _on_unprepared(self, media, video, audio):
        self._feeder.detach(video, audio)
        self._registry.media_down(media, self.cam_id)


class MountAuth(GstRtspServer.RTSPAuth):
    """RTSPAuth whose 401 challenge offers only the method of the requested mount, and that logs
    every login attempt on a protected mount (the "auth" and "auth-challenge" events)."""

    def __init__(self, methods, roles):
        super().__init__()
        self._methods = methods  # camera id -> GstRtsp.RTSPAuthMethod
        self._roles = roles  # camera id -> the role its credentials grant
        # The binding rejects OR-ed methods; only protected mounts ever get a
        # challenge, so any one method serves as the default.
        self._default = next(iter(methods.values()))
        self.set_supported_methods(self._default)
        self._lock = threading.Lock()

    @staticmethod
    def _mount(ctx):
        path = ctx.uri.abspath if ctx.uri is not None else ""
        return path.strip("/").split("/")[0]

    @staticmethod
    def _authorization(ctx):
        res, value = ctx.request.get_header(GstRtsp.RTSPHeaderField.AUTHORIZATION, 0)
        return value if res == GstRtsp.RTSPResult.OK else None

    def do_authenticate(self, ctx):
        # gst calls this at most once per request (ensure_authenticated: only while the request's
        # context has no token, and the default one leaves the anonymous token at least), and only
        # for requests that look up the mount's factory: DESCRIBE and SETUP. PLAY and TEARDOWN of
        # a session, GET_PARAMETER and OPTIONS are never authenticated (checked with gst 1.22),
        # so one event per such request counts login attempts exactly.
        result = GstRtspServer.RTSPAuth.do_authenticate(self, ctx)
        cam_id = self._mount(ctx)
        value = self._authorization(ctx) if cam_id in self._roles else None
        if value is not None:
            role = ctx.token.get_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE) if ctx.token else None
            method, user = parse_authorization(value)
            # Valid credentials of another mount are no login to this one: gst answers 401 too.
            emit("auth", id=cam_id, ok=role == self._roles[cam_id], method=method, user=user)
        return result

    def do_generate_authenticate_header(self, ctx):
        cam_id = self._mount(ctx)
        method = self._methods.get(cam_id, self._default)
        if self._authorization(ctx) is None:
            emit("auth-challenge", id=cam_id)  # a failed attempt was logged as "auth" already
        # supported-methods is auth-wide state: hold it only around the chain-up.
        with self._lock:
            self.set_supported_methods(method)
            GstRtspServer.RTSPAuth.do_generate_authenticate_header(self, ctx)
            self.set_supported_methods(self._default)


def parse_authorization(value):
    """(scheme, user name as sent) of an Authorization header value; the password never leaves."""
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    user = ""
    if scheme == "basic":
        try:
            user = base64.b64decode(rest.strip(), validate=True).decode("utf-8", "replace").partition(":")[0]
        except ValueError:  # binascii.Error included: not base64
            pass
    elif scheme == "digest":
        m = re.search(r'(?:^|[\s,])username\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))', rest, re.IGNORECASE)
        if m:
            user = re.sub(r"\\(.)", r"\1", m.group(1)) if m.group(1) is not None else m.group(2)
    return scheme, user


SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
ONVIF_MEDIA = {"http://www.onvif.org/ver10/media/wsdl": "media", "http://www.onvif.org/ver20/media/wsdl": "media2"}
ONVIF_PATH_RE = re.compile(r"^/onvif/([A-Za-z0-9._-]+)/(media_service|media2_service)$")
# WS-Security Created may be this far from our clock: cameras' clocks drift, loosely checked.
ONVIF_CREATED_SKEW_S = 900
ONVIF_MAX_BODY = 65536


def check_username_token(header, user, password):
    """(ok, user as sent, why not) of a SOAP header's WS-Security UsernameToken (PasswordDigest:
    Base64(SHA1(nonce + created + password)), Created within ONVIF_CREATED_SKEW_S of now)."""
    token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken") if header is not None else None
    if token is None:
        return False, "", "no-token"
    sent_user = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
    pw = token.find(f"{{{WSSE}}}Password")
    nonce = (token.findtext(f"{{{WSSE}}}Nonce") or "").strip()
    created = (token.findtext(f"{{{WSU}}}Created") or "").strip()
    if pw is None or not pw.get("Type", "").endswith("#PasswordDigest") or not nonce or not created:
        return False, sent_user, "not-digest"
    try:
        at = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
        if at.tzinfo is None:
            at = at.replace(tzinfo=datetime.timezone.utc)
        skew = abs((datetime.datetime.now(datetime.timezone.utc) - at).total_seconds())
        raw_nonce = base64.b64decode(nonce, validate=True)
    except ValueError:
        return False, sent_user, "malformed"
    if skew > ONVIF_CREATED_SKEW_S:
        return False, sent_user, "stale-created"
    expected = base64.b64encode(hashlib.sha1(raw_nonce + created.encode() + password.encode()).digest()).decode()
    # Bytes: compare_digest refuses non-ASCII str.
    ok = (hmac.compare_digest(expected.encode(), (pw.text or "").strip().encode())
          and hmac.compare_digest(sent_user.encode(), user.encode()))
    return ok, sent_user, None if ok else "wrong-credentials"


def soap_envelope(body):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<env:Envelope xmlns:env="{SOAP12}" xmlns:tt="http://www.onvif.org/ver10/schema" '
            'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" '
            f'xmlns:ter="http://www.onvif.org/ver10/error"><env:Body>{body}</env:Body></env:Envelope>')


def soap_fault(code, subcodes, reason):
    """A SOAP 1.2 fault, subcodes nested outermost first (e.g. ter:NotAuthorized)."""
    sub = ""
    for value in reversed(subcodes):
        sub = f"<env:Subcode><env:Value>{value}</env:Value>{sub}</env:Subcode>"
    return soap_envelope(
        f"<env:Fault><env:Code><env:Value>{code}</env:Value>{sub}</env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{xml_escape(reason)}</env:Text></env:Reason></env:Fault>')


class OnvifServer:
    """ONVIF Media service of every camera (GetProfiles, SetSynchronizationPoint), one HTTP server
    (stdlib, a thread per connection) for the whole simulator: the path names the camera."""

    def __init__(self, sim, address, port):
        self.sim = sim
        handler = type("Handler", (OnvifHandler,), {"onvif": self})
        family = socket_family(address)
        server_class = type("Server", (http.server.ThreadingHTTPServer,), {"address_family": family})
        self.httpd = server_class((address, int(port)), handler)
        self.httpd.daemon_threads = True

    @property
    def port(self):
        return self.httpd.server_address[1]

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, name="onvif", daemon=True).start()

    def profiles(self, cam_id):
        """[(token, camera)] of a camera: "main" is itself, "sub" the mount its onvifSub names."""
        cam = self.sim.cameras[cam_id]
        out = [("main", cam)]
        if cam.get("onvifSub"):
            out.append(("sub", self.sim.cameras[cam["onvifSub"]]))
        return out

    def handle(self, cam_id, body):
        """(HTTP status, XML answer, event fields) of one SOAP request to a camera with ONVIF."""
        cam = self.sim.cameras[cam_id]
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError:
            return 400, soap_fault("env:Sender", ["ter:WellFormed"], "not well-formed XML"), {"op": None}
        ns = envelope.tag[1:].partition("}")[0] if envelope.tag.startswith("{") else ""
        if ns not in (SOAP12, SOAP11) or envelope.tag.rpartition("}")[2] != "Envelope":
            return 400, soap_fault("env:Sender", ["ter:WellFormed"], "not a SOAP envelope"), {"op": None}
        soap_body = envelope.find(f"{{{ns}}}Body")
        request = soap_body[0] if soap_body is not None and len(soap_body) else None
        if request is None:
            return 400, soap_fault("env:Sender", ["ter:WellFormed"], "empty SOAP body"), {"op": None}
        op_ns, _, op = request.tag[1:].partition("}")
        fields = {"op": op, "service": ONVIF_MEDIA.get(op_ns)}
        if cam.get("auth"):
            ok, user, why = check_username_token(envelope.find(f"{{{ns}}}Header"), cam["auth"]["user"],
                                                 cam["auth"]["password"])
            fields["user"] = user
            if not ok:
                fields["reason"] = why
                return 400, soap_fault("env:Sender", ["ter:NotAuthorized"], "Sender not authorized"), fields
        service = ONVIF_MEDIA.get(op_ns)
        prefix = "trt" if service == "media" else "tr2"
        if service is not None and op == "GetProfiles":
            profiles = "".join(self._profile_xml(prefix, token, c) for token, c in self.profiles(cam_id))
            return 200, soap_envelope(f"<{prefix}:GetProfilesResponse>{profiles}</{prefix}:GetProfilesResponse>"), fields
        if service is not None and op == "SetSynchronizationPoint":
            token = (request.findtext(f"{{{op_ns}}}ProfileToken") or "").strip()
            target = dict(self.profiles(cam_id)).get(token)
            fields["profile"] = token
            if target is None:
                return 400, soap_fault("env:Sender", ["ter:InvalidArgVal", "ter:NoProfile"],
                                       "no such profile"), fields
            fields["forced"] = target["_feeder"].force_keyframe()
            return 200, soap_envelope(f"<{prefix}:SetSynchronizationPointResponse/>"), fields
        return 400, soap_fault("env:Receiver", ["ter:ActionNotSupported"], "action not supported"), fields

    @staticmethod
    def _profile_xml(prefix, token, cam):
        size = f"<tt:Resolution><tt:Width>{cam['width']}</tt:Width><tt:Height>{cam['height']}</tt:Height></tt:Resolution>"
        encoding = cam["codec"].upper()
        if prefix == "trt":
            encoder = ("" if encoding != "H264" else
                       f'<tt:VideoEncoderConfiguration token="venc_{token}"><tt:Name>venc_{token}</tt:Name>'
                       f"<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>{size}<tt:Quality>5</tt:Quality>"
                       f"<tt:RateControl><tt:FrameRateLimit>{cam['fps']}</tt:FrameRateLimit>"
                       f"<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{cam['bitrateKbps']}"
                       "</tt:BitrateLimit></tt:RateControl></tt:VideoEncoderConfiguration>")
            return f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{token}</tt:Name>{encoder}</trt:Profiles>'
        return (f'<tr2:Profiles token="{token}" fixed="true"><tr2:Name>{token}</tr2:Name><tr2:Configurations>'
                f'<tr2:VideoEncoder token="venc_{token}"><tt:Name>venc_{token}</tt:Name><tt:UseCount>1</tt:UseCount>'
                f"<tt:Encoding>{encoding}</tt:Encoding>{size}<tt:Quality>5</tt:Quality></tr2:VideoEncoder>"
                "</tr2:Configurations></tr2:Profiles>")


def socket_family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class OnvifHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "camsim-onvif"
    onvif = None  # set per server (OnvifServer)

    def log_message(self, *_args):
        pass  # events go to stdout as JSON lines

    def _send(self, status, body, content_type="application/soap+xml; charset=utf-8"):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(404 if not self._camera() else 405, "", "text/plain")

    def _camera(self):
        """The camera id of the path when that camera has ONVIF, else None."""
        m = ONVIF_PATH_RE.match(self.path.partition("?")[0])
        cam = self.onvif.sim.cameras.get(m.group(1)) if m else None
        return m.group(1) if cam is not None and cam.get("onvif") is not False else None

    def do_POST(self):
        m = ONVIF_PATH_RE.match(self.path.partition("?")[0])
        cam_id = m.group(1) if m and m.group(1) in self.onvif.sim.cameras else None
        length = int(self.headers.get("Content-Length") or 0)
        if length > ONVIF_MAX_BODY:
            self.close_connection = True
            self._send(413, "", "text/plain")
            return
        body = self.rfile.read(length)
        if cam_id is not None and cam_id in self.onvif.sim.stopped:
            self.close_connection = True  # rebooting: the connection drops without an answer
            emit("onvif", id=cam_id, op=None, ok=False, status=0)
            return
        if self._camera() is None:
            # A camera without ONVIF: its web server knows no such page.
            if cam_id is not None:
                emit("onvif", id=cam_id, op=None, ok=False, status=404)
            self._send(404, "<html><body>404 Not Found</body></html>", "text/html")
            return
        try:
            status, answer, fields = self.onvif.handle(cam_id, body)
        except Exception as exc:  # noqa: BLE001 - a bug here must answer, not hang the client
            status, answer, fields = 500, soap_fault("env:Receiver", [], str(exc)), {"op": None}
        emit("onvif", id=cam_id, ok=status == 200, status=status, **fields)
        self._send(status, answer)


class Simulator:
    """The RTSP server, its mounts and the per-clip feeders."""

    def __init__(self, spec):
        self.cameras = {}
        for cam in spec["cameras"]:
            if not ID_RE.match(cam["id"]) or cam["id"] in self.cameras:
                raise ValueError(f"bad or duplicate camera id {cam['id']!r}")
            if cam["codec"] not in ("h264", "h265"):
                raise ValueError(f"{cam['id']}: codec must be h264 or h265")
            if cam.get("audio") and cam["audio"] not in AUDIO_CODECS:
                raise ValueError(f"{cam['id']}: audio must be false, pcmu or pcma")
            if cam.get("clock") and (cam["codec"] != "h264" or cam.get("audio")):
                raise ValueError(f"{cam['id']}: a clock camera is H.264 without audio")
            transports = cam.get("transports")
            if transports is not None and (not transports or not set(transports) <= set(TRANSPORTS)):
                raise ValueError(f"{cam['id']}: transports must be a non-empty list of tcp and udp")
            self.cameras[cam["id"]] = cam
        for cam in self.cameras.values():
            sub = cam.get("onvifSub")
            if sub is not None and (sub not in self.cameras or sub == cam["id"]):
                raise ValueError(f"{cam['id']}: onvifSub {sub!r} is not another camera")
        self.stopped = set()  # cameras taken offline by stop-camera: ONVIF drops their requests too
        self._lock = threading.Lock()
        self._media = {}  # GstRTSPMedia -> camera id, for stop-camera
        self.feeders = self._make_feeders()
        self.tones = {a: Tone(a) for a in {c.get("audio") for c in self.cameras.values()} if a}

        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(spec.get("address", "127.0.0.1"))
        self.server.set_service(str(spec.get("port", 8554)))
        # Each DESCRIBE holds a pool thread until its media prerolls (up to a
        # GOP); the default single thread serialises simultaneous connects.
        self.server.get_thread_pool().set_max_threads(max(16, 2 * len(self.cameras) + 8))
        # The default listen backlog is 5: a burst of connects overflows it and
        # the dropped SYNs retry after 1, 3, 7, 15... s, so size it to the fleet.
        self.server.set_backlog(max(128, 2 * len(self.cameras)))
        self.roles = self._setup_auth()
        for cam_id in self.cameras:
            self.start_camera(cam_id, quiet=True)

    def _make_feeders(self):
        clips, feeders = {}, {}
        for cam in self.cameras.values():
            if cam.get("clock"):
                # Whether it honours keyframe requests is the encoder's: cameras differing in it
                # must not share one.
                clock_key = ("clock", int(cam["width"]), int(cam["height"]), int(cam["fps"]),
                             int(cam["gop"]), int(cam["bitrateKbps"]), cam.get("profile", "baseline"),
                             cam.get("keyframeOnRequest") is not False)
                if clock_key not in feeders:
                    feeders[clock_key] = ClockFeeder(*clock_key[1:])
                    emit("clock-started", id=cam["id"], caps=feeders[clock_key].caps)
                cam["_feeder"] = feeders[clock_key]
                continue
            strip = cam.get("inbandParameterSets") is False
            clip_key = (cam["clip"], cam["codec"]) + (("no-inband-sps",) if strip else ())
            if clip_key not in clips:
                clips[clip_key] = Clip(cam["clip"], cam["codec"], strip)
                clip = clips[clip_key]
                # reorderFrames only with B-frames, so the event is as before without them.
                reorder = {"reorderFrames": clip.reorder} if clip.reorder else {}
                emit("clip-loaded", clip=cam["clip"], accessUnits=len(clip.buffers),
                     bytes=clip.bytes, caps=clip.caps, **reorder)
            if cam.get("bframes") and not clips[clip_key].reorder:
                # The Node side encoded it with B-frames: serving it in order would hide a broken clip.
                raise ValueError(
                    f"{cam['id']}: bframes {cam['bframes']}, but {cam['clip']} is in display order")
            feeder_key = clip_key + (int(cam["fps"]),)
            if feeder_key not in feeders:
                feeders[feeder_key] = Feeder(clips[clip_key], int(cam["fps"]))
            cam["_feeder"] = feeders[feeder_key]
        return list(feeders.values())

    def _setup_auth(self):
        """Give each distinct credential its own role; return camera id -> role."""
        protected = {i: c["auth"] for i, c in self.cameras.items() if c.get("auth")}
        if not protected:
            return {}
        roles, cam_roles, methods, digest_users = {}, {}, {}, {}
        for cam_id, a in protected.items():
            method = a["method"]
            if method not in ("basic", "digest"):
                raise ValueError(f"{cam_id}: auth method must be basic or digest")
            cred = (method, a["user"], a["password"])
            if method == "digest":
                # gst keys digest credentials by user name alone.
                if digest_users.setdefault(a["user"], a["password"]) != a["password"]:
                    raise ValueError(f"digest user {a['user']!r} has two passwords")
            roles.setdefault(cred, f"cred{len(roles)}")
            cam_roles[cam_id] = roles[cred]
            methods[cam_id] = (GstRtsp.RTSPAuthMethod.BASIC if method == "basic"
                               else GstRtsp.RTSPAuthMethod.DIGEST)
        auth = MountAuth(methods, cam_roles)
        anonymous = GstRtspServer.RTSPToken()
        anonymous.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ANONYMOUS_ROLE)
        auth.set_default_token(anonymous)
        for (method, user, password), role in roles.items():
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
            if method == "basic":
                auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
            else:
                auth.add_digest(user, password, token)
        self.server.set_auth(auth)
        self._all_roles = [ANONYMOUS_ROLE] + list(roles.values())
        return cam_roles

    def _grant(self, factory, cam_id):
        if not self.roles:
            return  # no auth configured: factories need no permissions
        own = self.roles.get(cam_id)
        for role in self._all_roles:
            construct = own is None or role == own
            # access=true even when construct is false, or gst answers 404, not 401.
            factory.add_role_from_structure(Gst.Structure.from_string(
                f"{role}, media.factory.access=(boolean)true, "
                f"media.factory.construct=(boolean){str(construct).lower()}")[0])

    def media_up(self, media, cam_id):
        with self._lock:
            self._media[media] = cam_id
            count = len(self._media)
        emit("media-up", id=cam_id, activeMedia=count)

    def media_down(self, media, cam_id):
        with self._lock:
            self._media.pop(media, None)
            count = len(self._media)
        emit("media-down", id=cam_id, activeMedia=count)

    def start_camera(self, cam_id, quiet=False):
        cam = self.cameras[cam_id]
        factory = CameraFactory(cam, cam["_feeder"], self.tones.get(cam.get("audio")), self)
        self._grant(factory, cam_id)
        self.server.get_mount_points().add_factory(f"/{cam_id}", factory)
        self.stopped.discard(cam_id)
        if not quiet:
            emit("camera-started", id=cam_id)

    def stop_camera(self, cam_id):
        """Unmount the camera and drop every client that plays it, like a reboot."""
        self.server.get_mount_points().remove_factory(f"/{cam_id}")
        self.stopped.add(cam_id)
        with self._lock:
            doomed = {m for m, c in self._media.items() if c == cam_id}

        def plays_camera(client):
            found = []

            def on_session(_client, session):
                def on_media(_session, session_media):
                    if session_media.get_media() in doomed:
                        found.append(True)
                    return GstRtspServer.RTSPFilterResult.KEEP
                session.filter(on_media)
                return GstRtspServer.RTSPFilterResult.KEEP
            client.session_filter(on_session)
            return bool(found)

        closed = []

        def on_client(_server, client):
            if plays_camera(client):
                closed.append(client)
                return GstRtspServer.RTSPFilterResult.REMOVE
            return GstRtspServer.RTSPFilterResult.KEEP
        self.server.client_filter(on_client)
        emit("camera-stopped", id=cam_id, clientsClosed=len(closed))

    def handle_command(self, line):
        try:
            cmd = json.loads(line)
            name, cam_id = cmd.get("cmd"), cmd.get("id")
            if cam_id not in self.cameras:
                raise ValueError(f"unknown camera {cam_id!r}")
            if name == "stop-camera":
                self.stop_camera(cam_id)
            elif name == "start-camera":
                self.start_camera(cam_id)
            elif name in ("rtp-push", "rtp-stop"):
                feeder = self.cameras[cam_id]["_feeder"]
                if not isinstance(feeder, ClockFeeder):
                    raise ValueError(f"{cam_id} is not a clock camera")
                if name == "rtp-push":
                    feeder.push_rtp(cam_id, cmd["host"], cmd["port"], cmd["ssrc"], cmd["pt"])
                    emit("rtp-push-started", id=cam_id)
                else:
                    feeder.stop_rtp(cam_id)
                    emit("rtp-push-stopped", id=cam_id)
            else:
                raise ValueError(f"unknown command {name!r}")
        except Exception as exc:  # a bad command must not kill the server
            emit("command-error", error=str(exc), command=line)


def watch_stdin(sim, loop):
    """Feed stdin lines to the simulator; quit when the parent closes stdin."""
    pending = bytearray()

    def on_input(fd, condition):
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            emit("stdin-closed")
            loop.quit()
            return False
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip():
                sim.handle_command(line.decode("utf-8", "replace"))
        return True

    GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(),
                          GLib.IOCondition.IN | GLib.IOCondition.HUP, on_input)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON spec file")
    parser.add_argument("--control-stdin", action="store_true",
                        help="read JSON commands from stdin, exit on EOF")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)

    Gst.init(None)
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, lambda *_: loop.quit() or False)
    try:
        sim = Simulator(spec)
    except Exception as exc:  # report any spec or clip problem as one event
        emit("error", error=f"{type(exc).__name__}: {exc}")
        return 2
    if sim.server.attach(None) == 0:
        emit("error", error=f"cannot listen on {spec.get('address')}:{spec.get('port')}")
        return 3
    try:
        onvif = OnvifServer(sim, spec.get("address", "127.0.0.1"), spec.get("onvifPort", 0))
    except OSError as exc:
        emit("error", error=f"cannot listen for ONVIF on {spec.get('address')}:{spec.get('onvifPort', 0)}: {exc}")
        return 3
    onvif.start()
    for feeder in sim.feeders:
        feeder.start()
    if args.control_stdin:
        watch_stdin(sim, loop)
    emit("ready", port=sim.server.get_bound_port(), onvifPort=onvif.port, cameras=len(sim.cameras),
         clips=len({id(f.clip) for f in sim.feeders if f.clip is not None}), pid=os.getpid())
    loop.run()
    emit("stopped")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: GStreamer's client threads may still be running.
    os._exit(code)
