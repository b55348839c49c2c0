/* Reply frame assembly: see reply.h. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheclient_protocol.h"

#define REPLY_COPY_MAX 4096          /* smaller referenced values are copied */
#define REPLY_KEEP_CAPACITY (1u << 20) /* larger buffers are freed after use */

static __thread struct reply *tls_reply;

struct reply *reply_get(void)
{
    struct reply *r = tls_reply;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            abort(); /* a few hundred bytes at thread start; nothing sensible to do */
        msgpack_sbuffer_init(&r->buf);
        msgpack_packer_init(&r->pk, &r->buf, msgpack_sbuffer_write);
        tls_reply = r;
    }
    return r;
}

void reply_thread_free(void)
{
    struct reply *r = tls_reply;
    if (!r)
        return;
    reply_discard(r);
    msgpack_sbuffer_destroy(&r->buf);
    free(r->segs);
    free(r);
    tls_reply = NULL;
}

static void _reset(struct reply *r)
{
    r->nsegs = 0;
    r->reflen = 0;
    if (r->buf.alloc > REPLY_KEEP_CAPACITY) {
        msgpack_sbuffer_destroy(&r->buf);
        msgpack_sbuffer_init(&r->buf);
    }
    r->buf.size = 0;
}

void reply_begin(struct reply *r, uint64_t id, int status, uint32_t nresults)
{
    msgpack_pack_array(&r->pk, 2 + nresults);
    msgpack_pack_uint64(&r->pk, id);
    msgpack_pack_int(&r->pk, status);
}

void reply_raw(struct reply *r, const uint8_t *data, size_t len, void (*release)(void *),
               void *arg)
{
    if (len <= REPLY_COPY_MAX || !release) {
        msgpack_sbuffer_write(&r->buf, (const char *)data, len);
        if (release)
            release(arg);
        return;
    }
    if (r->nsegs == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        struct reply_seg *ns = realloc(r->segs, ncap * sizeof(*ns));
        if (!ns) { /* fall back to a copy */
            msgpack_sbuffer_write(&r->buf, (const char *)data, len);
            release(arg);
            return;
        }
        r->segs = ns;
        r->cap = ncap;
    }
    r->segs[r->nsegs++] = (struct reply_seg){r->buf.size, data, len, release, arg};
    r->reflen += len;
}

void reply_error(struct reply *r, uint64_t id, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    reply_begin(r, id, status, 1);
    reply_str(r, msg, (size_t)n);
}

void reply_finish(struct reply *r, struct core_out *out)
{
    uint8_t hdr[CC_FRAME_HEADER_SIZE];
    cc_be32_write(hdr, (uint32_t)(r->buf.size + r->reflen));
    core_out_add(out, hdr, sizeof(hdr));
    size_t pos = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        struct reply_seg *s = &r->segs[i];
        if (s->off > pos)
            core_out_add(out, r->buf.data + pos, s->off - pos);
        pos = s->off;
        core_out_add_ref(out, s->data, s->len, s->release, s->arg);
    }
    if (r->buf.size > pos)
        core_out_add(out, r->buf.data + pos, r->buf.size - pos);
    _reset(r);
}

uint8_t *reply_take(struct reply *r, size_t *len)
{
    size_t body = r->buf.size + r->reflen;
    uint8_t *b = malloc(CC_FRAME_HEADER_SIZE + body);
    if (!b) {
        reply_discard(r);
        return NULL;
    }
    cc_be32_write(b, (uint32_t)body);
    uint8_t *p = b + CC_FRAME_HEADER_SIZE;
    size_t pos = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        struct reply_seg *s = &r->segs[i];
        memcpy(p, r->buf.data + pos, s->off - pos);
        p += s->off - pos;
        pos = s->off;
        memcpy(p, s->data, s->len);
        p += s->len;
        s->release(s->arg);
    }
    if (r->buf.size > pos)
        memcpy(p, r->buf.data + pos, r->buf.size - pos);
    *len = CC_FRAME_HEADER_SIZE + body;
    _reset(r);
    return b;
}

void reply_discard(struct reply *r)
{
    for (size_t i = 0; i < r->nsegs; i++)
        r->segs[i].release(r->segs[i].arg);
    _reset(r);
}
