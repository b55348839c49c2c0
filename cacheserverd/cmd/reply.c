/* Reply frame assembly: see reply.h. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheclient_protocol.h"

#define REPLY_COPY_MAX 4096          /* smaller referenced values are copied */
#define REPLY_KEEP_CAPACITY (1u << 20) /* larger buffers are freed after use */

/* Each thread's reply, in thread-local storage: nothing to allocate (or fail) at a worker's
 * first request. */
static __thread struct reply tls_reply;
static __thread bool tls_ready;

static int _rbuf_write(void *data, const char *buf, size_t len)
{
    struct rbuf *b = data;
    if (!b->failed && msgpack_sbuffer_write(&b->buf, buf, len) != 0)
        b->failed = true;
    return b->failed ? -1 : 0;
}

void rbuf_init(struct rbuf *b)
{
    msgpack_sbuffer_init(&b->buf);
    msgpack_packer_init(&b->pk, b, _rbuf_write);
    b->failed = false;
}

void rbuf_destroy(struct rbuf *b) { msgpack_sbuffer_destroy(&b->buf); }

static int _reply_pk_write(void *data, const char *buf, size_t len)
{
    struct reply *r = data;
    reply_write(r, buf, len);
    return r->failed ? -1 : 0;
}

void reply_write(struct reply *r, const void *data, size_t len)
{
    if (!r->failed && len && msgpack_sbuffer_write(&r->buf, (const char *)data, len) != 0)
        r->failed = true;
}

void reply_write_rbuf(struct reply *r, struct rbuf *b)
{
    if (b->failed)
        r->failed = true;
    else
        reply_write(r, b->buf.data, b->buf.size);
    rbuf_destroy(b);
}

struct reply *reply_get(void)
{
    struct reply *r = &tls_reply;
    if (!tls_ready) {
        memset(r, 0, sizeof(*r));
        msgpack_sbuffer_init(&r->buf);
        msgpack_packer_init(&r->pk, r, _reply_pk_write);
        tls_ready = true;
    }
    return r;
}

void reply_thread_free(void)
{
    if (!tls_ready)
        return;
    struct reply *r = &tls_reply;
    reply_discard(r);
    msgpack_sbuffer_destroy(&r->buf);
    free(r->segs);
    memset(r, 0, sizeof(*r));
    tls_ready = false;
}

static void _reset(struct reply *r)
{
    r->nsegs = 0;
    r->reflen = 0;
    r->failed = false;
    if (r->buf.alloc > REPLY_KEEP_CAPACITY) {
        msgpack_sbuffer_destroy(&r->buf);
        msgpack_sbuffer_init(&r->buf);
    }
    r->buf.size = 0;
}

void reply_begin(struct reply *r, uint64_t id, int status, uint32_t nresults)
{
    r->id = id;
    msgpack_pack_array(&r->pk, 2 + nresults);
    msgpack_pack_uint64(&r->pk, id);
    msgpack_pack_int(&r->pk, status);
}

void reply_raw(struct reply *r, const uint8_t *data, size_t len, void (*release)(void *),
               void *arg)
{
    if (len <= REPLY_COPY_MAX || !release || r->failed) {
        reply_write(r, data, len);
        if (release)
            release(arg);
        return;
    }
    if (r->nsegs == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        struct reply_seg *ns = realloc(r->segs, ncap * sizeof(*ns));
        if (!ns) { /* fall back to a copy */
            reply_write(r, data, len);
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

/* A fixed-size msgpack destination: the E_NOMEM reply is built without allocating. */
struct fixbuf {
    uint8_t b[CC_FRAME_HEADER_SIZE + 96];
    size_t n;
};

static int _fix_write(void *data, const char *buf, size_t len)
{
    struct fixbuf *f = data;
    if (len > sizeof(f->b) - f->n)
        return -1;
    memcpy(f->b + f->n, buf, len);
    f->n += len;
    return 0;
}

/* [id, E_NOMEM, message] as a whole frame into f, for a reply whose building ran out of
 * memory. */
static void _nomem_frame(uint64_t id, struct fixbuf *f)
{
    static const char msg[] = "out of memory building the reply";
    msgpack_packer pk;
    f->n = CC_FRAME_HEADER_SIZE;
    msgpack_packer_init(&pk, f, _fix_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_int(&pk, CC_E_NOMEM);
    msgpack_pack_str(&pk, sizeof(msg) - 1);
    msgpack_pack_str_body(&pk, msg, sizeof(msg) - 1);
    cc_be32_write(f->b, (uint32_t)(f->n - CC_FRAME_HEADER_SIZE));
}

void reply_finish(struct reply *r, struct core_out *out)
{
    if (r->failed) {
        struct fixbuf f;
        uint64_t id = r->id;
        reply_discard(r);
        _nomem_frame(id, &f);
        core_out_add(out, f.b, f.n);
        return;
    }
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
    if (r->failed) {
        struct fixbuf f;
        uint64_t id = r->id;
        reply_discard(r);
        _nomem_frame(id, &f);
        uint8_t *b = malloc(f.n);
        if (b) {
            memcpy(b, f.b, f.n);
            *len = f.n;
        }
        return b;
    }
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
