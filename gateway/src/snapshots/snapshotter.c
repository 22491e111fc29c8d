// The snapshot decoder: one long-lived process that turns cached GOPs into JPEGs of their newest
// frame with libavcodec, so a snapshot costs its decode and nothing else (starting Debian's ffmpeg
// CLI costs ~0.15 s of CPU in its dynamic linker alone, and it holds back a stream's last frame).
// Built by scripts/setup.sh against Debian's libavcodec/libswscale; driven by SnapshotDecoder.ts.
//
// Protocol on stdin/stdout, big-endian, one request at a time:
//   request:  u32 length, u16 width (0: the camera's), u8 quality (qscale 2..31), then `length`
//             bytes of Annex-B H.264 (SPS and PPS, then an IDR and the frames after it)
//   answer:   u32 jpeg length (0: no picture), u32 frames decoded, u16 width, u16 height, the JPEG
// Diagnostics go to stderr, one line each.
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_full(uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, buf + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int write_full(const uint8_t *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(1, buf + put, n - put);
    if (w <= 0) return -1;
    put += (size_t)w;
  }
  return 0;
}

static void be32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}
static void be16(uint8_t *p, uint16_t v) { p[0] = v >> 8, p[1] = v; }

static int answer(const uint8_t *jpeg, uint32_t len, uint32_t frames, int w, int h) {
  uint8_t head[12];
  be32(head, len);
  be32(head + 4, frames);
  be16(head + 8, (uint16_t)w);
  be16(head + 10, (uint16_t)h);
  if (write_full(head, sizeof head) < 0) return -1;
  return len ? write_full(jpeg, len) : 0;
}

/** Sends one access unit (NULL: drain) and keeps the newest frame the decoder gives back. */
static void feed(AVCodecContext *dec, AVPacket *pkt, AVFrame *frame, AVFrame *last, uint32_t *frames) {
  avcodec_send_packet(dec, pkt); // a damaged unit is skipped; the rest still decodes
  while (avcodec_receive_frame(dec, frame) == 0) {
    (*frames)++;
    av_frame_unref(last);
    av_frame_move_ref(last, frame);
  }
}

/** Every frame of the GOP decoded (drained at its end); the newest kept in `last`. */
static uint32_t decode_gop(AVCodecContext *dec, const uint8_t *data, size_t size, AVFrame *last) {
  AVCodecParserContext *parser = av_parser_init(AV_CODEC_ID_H264);
  AVPacket *pkt = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  uint32_t frames = 0;
  const uint8_t *p = data;
  size_t left = size;
  uint8_t *out = NULL;
  int out_size = 0;
  while (left > 0) {
    int used = av_parser_parse2(parser, dec, &out, &out_size, p, (int)left, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
    if (used < 0) break;
    p += used;
    left -= (size_t)used;
    if (out_size > 0) {
      pkt->data = out;
      pkt->size = out_size;
      feed(dec, pkt, frame, last, &frames);
    }
  }
  // The parser holds the last access unit until told the input ended; then the decoder is drained.
  av_parser_parse2(parser, dec, &out, &out_size, NULL, 0, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
  if (out_size > 0) {
    pkt->data = out;
    pkt->size = out_size;
    feed(dec, pkt, frame, last, &frames);
  }
  feed(dec, NULL, frame, last, &frames);
  avcodec_flush_buffers(dec); // ready for the next GOP (of any camera)
  av_frame_free(&frame);
  av_packet_free(&pkt);
  av_parser_close(parser);
  return frames;
}

static int encode_jpeg(const AVFrame *src, int width, int quality, AVPacket *out, int *ow, int *oh) {
  int w = width > 0 && width < src->width ? width : src->width;
  int h = (int)((int64_t)src->height * w / src->width) & ~1;
  if (h < 2) h = 2;
  w &= ~1;
  const AVCodec *mjpeg = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  AVCodecContext *enc = avcodec_alloc_context3(mjpeg);
  enc->width = w;
  enc->height = h;
  enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
  enc->time_base = (AVRational){1, 25};
  enc->flags |= AV_CODEC_FLAG_QSCALE;
  enc->global_quality = FF_QP2LAMBDA * quality;
  int ret = -1;
  AVFrame *dst = av_frame_alloc();
  struct SwsContext *sws = NULL;
  if (avcodec_open2(enc, mjpeg, NULL) < 0) goto done;
  dst->format = AV_PIX_FMT_YUVJ420P;
  dst->width = w;
  dst->height = h;
  if (av_frame_get_buffer(dst, 0) < 0) goto done;
  sws = sws_getContext(src->width, src->height, (enum AVPixelFormat)src->format, w, h, AV_PIX_FMT_YUVJ420P,
                       SWS_BILINEAR, NULL, NULL, NULL);
  if (!sws) goto done;
  sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dst->data, dst->linesize);
  dst->pts = 0;
  dst->quality = enc->global_quality;
  if (avcodec_send_frame(enc, dst) < 0 || avcodec_send_frame(enc, NULL) < 0) goto done;
  if (avcodec_receive_packet(enc, out) == 0) {
    *ow = w;
    *oh = h;
    ret = 0;
  }
done:
  sws_freeContext(sws);
  av_frame_free(&dst);
  avcodec_free_context(&enc);
  return ret;
}

int main(void) {
  av_log_set_level(AV_LOG_FATAL);
  const AVCodec *h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
  AVCodecContext *dec = avcodec_alloc_context3(h264);
  dec->thread_count = 1;
  dec->flags |= AV_CODEC_FLAG_LOW_DELAY;
  if (avcodec_open2(dec, h264, NULL) < 0) {
    fprintf(stderr, "snapshotter: the H.264 decoder could not be opened\n");
    return 1;
  }
  AVFrame *last = av_frame_alloc();
  AVPacket *jpeg = av_packet_alloc();
  uint8_t head[7];
  while (read_full(head, sizeof head) == 0) {
    uint32_t len = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    int width = head[4] << 8 | head[5];
    int quality = head[6] < 2 ? 2 : head[6] > 31 ? 31 : head[6];
    if (len > (256u << 20)) {
      fprintf(stderr, "snapshotter: request of %u bytes refused\n", len);
      return 2;
    }
    uint8_t *data = malloc((size_t)len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!data || read_full(data, len) < 0) return 0;
    memset(data + len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    uint32_t frames = decode_gop(dec, data, len, last);
    free(data);
    int w = 0, h = 0, rc = -1;
    if (frames > 0 && last->width > 0) rc = encode_jpeg(last, width, quality, jpeg, &w, &h);
    if (rc == 0) {
      if (answer(jpeg->data, (uint32_t)jpeg->size, frames, w, h) < 0) return 0;
    } else if (answer(NULL, 0, frames, 0, 0) < 0) {
      return 0;
    }
    av_packet_unref(jpeg);
    av_frame_unref(last);
  }
  return 0;
}
