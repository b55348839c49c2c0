/* libFuzzer target: request decoding and dispatch (cacheserverd/cmd/), the code that reads
 * every frame a client sends, against a real in-process memory store. No socket, no core:
 * this file stands in for core's side of handler.h (core_out_add, core_out_add_ref,
 * core_out_attach_fd, core_defer_*), and runs without disk tiers (no ssd/hdd path), so no request waits for an
 * I/O thread.
 *
 * The input is what a client writes on the socket: frames of a 4-byte big-endian length
 * then the body (the last frame takes whatever bytes remain when its length says more).
 * Each body goes to cmd's handler as core would hand it over, in one session. A frame
 * longer than FUZZ_MAX_FRAME gets frame_too_large, as core does past max_frame_size. Every
 * request must be answered by exactly one reply frame: a length that matches and a body
 * that is one msgpack array [id, status:uint, ...]; anything else abort()s. An error reply
 * is fine. The store is set up afresh and options are put back to their defaults for each
 * input, so every input starts from an empty server. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cacheclient_protocol.h"
#include "cmd.h"
#include "handler.h"
#include "mpread.h"
#include "option.h"
#include "store.h"
#include "tiering.h"

#define FUZZ_MAX_FRAME (1u << 20)
#define MAX_FRAMES 256

static bool verbose; /* FUZZ_FRAMES_VERBOSE=1: each reply's id and status on stderr */

/* ---- core's side of handler.h ---- */

struct core_out {
    uint8_t *buf;
    size_t len, cap;
};

static void _fail(const char *what)
{
    fprintf(stderr, "fuzz_frames: %s\n", what);
    abort();
}

void core_out_add(struct core_out *o, const void *data, size_t len)
{
    if (!o)
        _fail("core_out_add on a NULL output");
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + len)
            cap *= 2;
        uint8_t *b = realloc(o->buf, cap);
        if (!b)
            _fail("out of memory for the output");
        o->buf = b;
        o->cap = cap;
    }
    if (len)
        memcpy(o->buf + o->len, data, len);
    o->len += len;
}

/* Copied at once, so the bytes are released at once (as after a write to the socket). */
void core_out_add_ref(struct core_out *o, const void *data, size_t len,
                      void (*release)(void *arg), void *arg)
{
    core_out_add(o, data, len);
    if (release)
        release(arg);
}

/* No socket: a descriptor is never attached (no region without shm-read-size anyway). */
bool core_out_attach_fd(struct core_out *o, int fd)
{
    (void)o, (void)fd;
    return false;
}

/* Without disk tiers nothing is deferred; "out of memory" makes cmd answer at once. */
struct core_defer *core_defer_begin(struct core_out *o)
{
    (void)o;
    return NULL;
}

void core_defer_complete(struct core_defer *d, void (*fill)(void *arg, struct core_out *out),
                         void *arg)
{
    (void)d, (void)fill, (void)arg;
    _fail("core_defer_complete without a deferred request");
}

/* ---- the server ---- */

static void _config(const char *name, const char *value)
{
    char err[512];
    if (option_registry_set(name, value, false, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_frames: %s\n", err);
        abort();
    }
}

static void _init(void)
{
    store_options_register();
    cmd_options_register();
    tiering_options_register();
    if (tiering_setup() != 0 || cmd_setup() != 0)
        _fail("setup failed");
}

/* Options back to the defaults and the test's settings (CONFIG SET may have changed them);
 * a string is only set again when it changed, so no string is retired per input. */
static void _reset_one(void *arg, const char *module, struct option_desc *d)
{
    (void)arg, (void)module;
    char err[512];
    if (d->type == OPT_STR) {
        const char *s = option_get_s(d->value);
        if (s && !strcmp(s, d->def))
            return;
    }
    if (option_set(d, d->def, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_frames: %s\n", err);
        abort();
    }
}

static void _reset_options(void)
{
    option_registry_foreach(_reset_one, NULL);
    _config("memory", "8MiB");
    /* below the option's range (1MiB..): set directly, to keep every value within the
     * FUZZ_MAX_FRAME frames this target hands over, as the frame rule would */
    struct option_desc *mv = option_registry_find("max_value_size");
    if (!mv)
        abort();
    __atomic_store_n(&mv->value->u, 256u << 10, __ATOMIC_RELAXED);
}

/* The bytes written for one request must be exactly one reply frame for it. */
static void _check_reply(const struct core_out *o, size_t from, bool id_known, uint64_t id)
{
    if (o->len - from < CC_FRAME_HEADER_SIZE)
        _fail("no reply frame written for a request");
    const uint8_t *p = o->buf + from;
    size_t blen = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    if (blen != o->len - from - CC_FRAME_HEADER_SIZE)
        _fail("the reply frame's length is not the bytes written for it");
    struct mp_cursor c, whole;
    uint32_t n;
    uint64_t rid, st;
    mp_cursor_init(&c, p + CC_FRAME_HEADER_SIZE, blen);
    whole = c;
    if (!mp_skip_any(&whole, MP_MAX_DEPTH) || mp_remaining(&whole) != 0)
        _fail("the reply body is not one msgpack value");
    if (!mp_read_array(&c, &n) || n < 2 || !mp_read_uint(&c, &rid) || !mp_read_uint(&c, &st))
        _fail("the reply is not [id, status, ...]");
    if (id_known && rid != id && st != CC_E_PROTOCOL)
        _fail("the reply's id is not the request's");
    if (verbose)
        fprintf(stderr, "fuzz_frames: reply id %llu status %llu (%zu bytes)\n",
                (unsigned long long)rid, (unsigned long long)st, blen);
}

/* The request id, when the body starts like [op, id, ...] (0 otherwise, as the reply says). */
static bool _request_id(const uint8_t *body, size_t len, uint64_t *id)
{
    struct mp_cursor c;
    uint32_t n;
    uint64_t op;
    mp_cursor_init(&c, body, len);
    return mp_read_array(&c, &n) && n >= 2 && mp_read_uint(&c, &op) && mp_read_uint(&c, id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool inited;
    if (!inited) {
        _init();
        inited = true;
        verbose = getenv("FUZZ_FRAMES_VERBOSE") != NULL;
    }
    _reset_options();
    if (store_setup() != 0)
        _fail("store_setup failed");

    const struct core_handler *h = cmd_handler();
    struct core_peer peer = {.pid = getpid(), .uid = getuid(), .gid = getgid(), .conn_id = 1};
    void *session = h->session_open(h->ctx, &peer);
    if (!session)
        _fail("session_open refused the connection");
    struct core_out out = {0};
    size_t off = 0;
    for (unsigned frames = 0; off < size && frames < MAX_FRAMES; frames++) {
        size_t blen = size - off < CC_FRAME_HEADER_SIZE ? 0 : size - off - CC_FRAME_HEADER_SIZE;
        if (size - off >= CC_FRAME_HEADER_SIZE) {
            const uint8_t *p = data + off;
            uint64_t want = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
            if (want > FUZZ_MAX_FRAME) {
                size_t from = out.len;
                h->frame_too_large(session, want, FUZZ_MAX_FRAME, &out);
                _check_reply(&out, from, false, 0);
                break; /* core closes the connection */
            }
            if (want < blen)
                blen = (size_t)want;
            off += CC_FRAME_HEADER_SIZE;
        } else {
            off = size; /* a partial length: core would wait for more */
            break;
        }
        /* the body in a buffer of its own size, so ASan sees a read past it */
        uint8_t *body = malloc(blen ? blen : 1);
        if (!body)
            _fail("out of memory");
        memcpy(body, data + off, blen);
        off += blen;
        uint64_t id = 0;
        bool id_known = _request_id(body, blen, &id);
        size_t from = out.len;
        enum core_verdict v = h->frame(session, body, blen, &out);
        free(body);
        if (v == CORE_PENDING)
            _fail("a request was deferred without disk tiers");
        _check_reply(&out, from, id_known, id);
        out.len = 0; /* written to the socket */
        if (v == CORE_CLOSE)
            break;
    }
    h->session_close(session);
    free(out.buf);
    store_teardown();
    return 0;
}
