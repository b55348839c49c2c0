/* The on-disk value format (see diskval.h): encoding, verifying decode, the header-only peek
 * of the compaction filter and the warm restart. */
#include "diskval.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "crc32c.h"
#include "le.h"

static uint32_t get32be(const uint8_t *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* One zstd context of each kind per thread, kept for the thread's life: creating one per
 * value cost more than the decompression itself (ZSTD_createDStream was 21% of the server's
 * CPU under a disk-bound GET load; docs/performance.md). A thread's contexts are freed when
 * it exits. */
static pthread_key_t cctx_key, dctx_key;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void _free_cctx(void *c) { ZSTD_freeCCtx(c); }
static void _free_dctx(void *d) { ZSTD_freeDStream(d); }
static void _make_keys(void)
{
    pthread_key_create(&cctx_key, _free_cctx);
    pthread_key_create(&dctx_key, _free_dctx);
}

static ZSTD_CCtx *_cctx(void)
{
    pthread_once(&keys_once, _make_keys);
    ZSTD_CCtx *c = pthread_getspecific(cctx_key);
    if (!c && (c = ZSTD_createCCtx()) && pthread_setspecific(cctx_key, c) != 0) {
        ZSTD_freeCCtx(c);
        c = NULL;
    }
    return c;
}

/* A decompression stream reset for a new value, or NULL (out of memory). */
static ZSTD_DStream *_dstream(void)
{
    pthread_once(&keys_once, _make_keys);
    ZSTD_DStream *z = pthread_getspecific(dctx_key);
    if (!z && (z = ZSTD_createDStream()) && pthread_setspecific(dctx_key, z) != 0) {
        ZSTD_freeDStream(z);
        z = NULL;
    }
    if (z && ZSTD_isError(ZSTD_DCtx_reset(z, ZSTD_reset_session_only)))
        return NULL;
    return z;
}

/* Everything but the checksum field itself: bytes 0..3 and 8..end. */
static uint32_t _crc(const uint8_t *buf, size_t len)
{
    return crc32c(crc32c(0, buf, 4), buf + 8, len - 8);
}

int diskval_encode(const struct diskval *v, const struct diskval_opts *o, uint8_t **out,
                   size_t *outlen, bool *compressed)
{
    if (v->len > UINT32_MAX - DISKVAL_CTR_MAX - 2 || v->ctr_len > DISKVAL_CTR_MAX)
        return DISKVAL_CORRUPT;
    /* a counter's payload: value, state, the state's length */
    const uint8_t *plain = v->data;
    size_t len = v->len;
    uint8_t *joined = NULL;
    if (v->ctr_len) {
        len = v->len + v->ctr_len + 2;
        if (!(joined = malloc(len)))
            return DISKVAL_NOMEM;
        if (v->len)
            memcpy(joined, v->data, v->len);
        memcpy(joined + v->len, v->ctr, v->ctr_len);
        joined[len - 2] = (uint8_t)v->ctr_len;
        joined[len - 1] = (uint8_t)(v->ctr_len >> 8);
        plain = joined;
    }
    size_t payload = len;
    uint8_t *buf = NULL;
    *compressed = false;
    if (len >= o->compress_threshold && len > 0) {
        size_t bound = ZSTD_compressBound(len);
        ZSTD_CCtx *cctx = _cctx();
        buf = cctx ? malloc(DISKVAL_HEADER + bound) : NULL;
        if (!buf) {
            free(joined);
            return DISKVAL_NOMEM;
        }
        size_t n = ZSTD_compressCCtx(cctx, buf + DISKVAL_HEADER, bound, plain, len, o->zstd_level);
        if (!ZSTD_isError(n) && n <= len - len / 8) {
            payload = n;
            *compressed = true;
        }
    }
    if (!*compressed) {
        free(buf);
        buf = malloc(DISKVAL_HEADER + len);
        if (!buf) {
            free(joined);
            return DISKVAL_NOMEM;
        }
        if (len)
            memcpy(buf + DISKVAL_HEADER, plain, len);
    }
    free(joined);
    buf[0] = DISKVAL_FORMAT;
    buf[1] = v->type;
    buf[2] = (uint8_t)((*compressed ? DISKVAL_ZSTD : 0) | (v->ctr_len ? DISKVAL_CTR : 0));
    buf[3] = 0;
    put64(buf + 8, v->expire_ms);
    put64(buf + 16, v->version);
    put64(buf + 24, v->hlc);
    put32(buf + 32, (uint32_t)len);
    put32(buf + 36, (uint32_t)payload);
    put32(buf + 4, _crc(buf, DISKVAL_HEADER + payload));
    *out = buf;
    *outlen = DISKVAL_HEADER + payload;
    return DISKVAL_OK;
}

bool diskval_peek(const uint8_t *buf, size_t len, struct diskval *out)
{
    if (len < DISKVAL_HEADER || buf[0] != DISKVAL_FORMAT ||
        (size_t)get32(buf + 36) != len - DISKVAL_HEADER)
        return false; /* the length check also refuses nearly every byte-swapped header */
    *out = (struct diskval){.type = buf[1], .expire_ms = get64(buf + 8),
                            .version = get64(buf + 16), .hlc = get64(buf + 24),
                            .len = get32(buf + 32)};
    return true;
}

bool diskval_expired(const uint8_t *buf, size_t len, uint64_t now_ms)
{
    struct diskval v;
    return diskval_peek(buf, len, &v) && v.expire_ms != 0 && v.expire_ms <= now_ms;
}

/* The first output buffer of a decompression when the header's length is larger: the
 * output grows (doubling) only as zstd fills it. */
#define DECOMPRESS_FIRST (64u * 1024)

/* Decompress exactly raw bytes from src into a malloc'd *out. The header's length is
 * checked, not trusted with an allocation: a record whose checksum is right but whose lengths
 * lie (a bug that wrote it, a crafted file) must not make us allocate up to 4 GiB for a few
 * bytes of payload, so the buffer grows only as zstd produces output, to at most raw. */
static int _decompress(const uint8_t *src, size_t srclen, size_t raw, uint8_t **out)
{
    size_t cap = raw < DECOMPRESS_FIRST ? raw : DECOMPRESS_FIRST;
    uint8_t *d = malloc(cap ? cap : 1);
    ZSTD_DStream *z = _dstream();
    if (!d || !z) {
        free(d);
        return DISKVAL_NOMEM;
    }
    ZSTD_inBuffer in = {src, srclen, 0};
    ZSTD_outBuffer o = {d, cap, 0};
    int st = DISKVAL_CORRUPT;
    for (;;) {
        size_t r = ZSTD_decompressStream(z, &o, &in);
        if (ZSTD_isError(r))
            break;
        if (in.pos == in.size && r == 0) {
            st = o.pos == raw ? DISKVAL_OK : DISKVAL_CORRUPT; /* every frame ended */
            break;
        }
        if (o.pos < o.size) {
            if (in.pos == in.size)
                break; /* zstd wants input we do not have: truncated */
            continue;  /* a frame ended and another follows */
        }
        /* output full: more than raw bytes is corrupt, else grow */
        if (o.size == raw) {
            /* one more call tells a complete frame (0) from one that goes on */
            uint8_t extra;
            ZSTD_outBuffer probe = {&extra, 1, 0};
            r = ZSTD_decompressStream(z, &probe, &in);
            if (!ZSTD_isError(r) && r == 0 && probe.pos == 0 && in.pos == in.size)
                st = DISKVAL_OK;
            break;
        }
        size_t ncap = o.size > raw / 2 ? raw : o.size * 2;
        uint8_t *nd = realloc(d, ncap);
        if (!nd) {
            st = DISKVAL_NOMEM;
            break;
        }
        d = nd;
        o.dst = d;
        o.size = ncap;
    }
    if (st != DISKVAL_OK) {
        free(d);
        return st;
    }
    *out = d;
    return DISKVAL_OK;
}

/* A counter's payload: split the state off the value (out->data, out->len: the payload). */
static int _split_ctr(struct diskval *out)
{
    if (out->len < 2)
        return DISKVAL_CORRUPT;
    uint32_t n = (uint32_t)out->data[out->len - 2] | (uint32_t)out->data[out->len - 1] << 8;
    if ((size_t)n + 2 > out->len)
        return DISKVAL_CORRUPT;
    out->len -= (size_t)n + 2;
    out->ctr = n ? out->data + out->len : NULL;
    out->ctr_len = n;
    return DISKVAL_OK;
}

#define DISKVAL_FLAGS (DISKVAL_ZSTD | DISKVAL_CTR)

int diskval_decode(const uint8_t *buf, size_t len, uint64_t now_ms, struct diskval *out,
                   uint8_t **owned)
{
    *owned = NULL;
    if (len < DISKVAL_HEADER || buf[0] != DISKVAL_FORMAT || (buf[2] & ~DISKVAL_FLAGS) != 0)
        return DISKVAL_CORRUPT;
    uint32_t raw = get32(buf + 32), stored = get32(buf + 36);
    if ((size_t)stored != len - DISKVAL_HEADER)
        return DISKVAL_CORRUPT;
    if (_crc(buf, len) != get32(buf + 4))
        return DISKVAL_CORRUPT;
    diskval_peek(buf, len, out);
    if (out->expire_ms != 0 && out->expire_ms <= now_ms)
        return DISKVAL_EXPIRED;
    if (!(buf[2] & DISKVAL_ZSTD)) {
        if (raw != stored)
            return DISKVAL_CORRUPT;
        out->data = buf + DISKVAL_HEADER;
        out->len = raw;
        return buf[2] & DISKVAL_CTR ? _split_ctr(out) : DISKVAL_OK;
    }
    uint8_t *d = NULL;
    int st = _decompress(buf + DISKVAL_HEADER, stored, raw, &d);
    if (st != DISKVAL_OK)
        return st;
    *owned = d;
    out->data = d;
    out->len = raw;
    if (buf[2] & DISKVAL_CTR && (st = _split_ctr(out)) != DISKVAL_OK) {
        free(d);
        *owned = NULL;
    }
    return st;
}

const char *diskval_why(const uint8_t *buf, size_t len)
{
    if (len < DISKVAL_HEADER)
        return "shorter than the header";
    if (buf[0] != DISKVAL_FORMAT)
        return "unknown format byte";
    if ((buf[2] & ~DISKVAL_FLAGS) != 0)
        return "unknown flags";
    size_t stored = len - DISKVAL_HEADER;
    uint32_t crc = _crc(buf, len);
    if (get32(buf + 36) != stored || get32(buf + 4) != crc) {
        if (get32be(buf + 36) == stored && get32be(buf + 4) == crc)
            return "header in big-endian byte order (an old build on a big-endian host wrote "
                   "it): not readable";
        return get32(buf + 36) != stored ? "stored length disagrees with the record's size"
                                         : "checksum mismatch";
    }
    return NULL;
}
