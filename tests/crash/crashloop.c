/* Crash-consistency loop (RocksDB's db_crashtest idea; docs/reliability.md, "Crash
 * consistency"). A real cacheserverd with an SSD tier and `--persist sync|async` takes a
 * random mix of SET, DEL, INCR and APPEND from 4 writer threads, each on its own connection
 * and its own keys, so a writer's log of what the server acknowledged (plus the one request
 * it had in flight) determines every one of its keys. At a random moment 0.5..3 s into a
 * cycle the server gets SIGKILL; it is started again on the same directories and every key
 * is read back and checked:
 *   sync:  the last acknowledged state, or the state after the request in flight;
 *   async: a state the key had at an acknowledged point of this cycle (or after the request
 *          in flight): an older value may come back, a value it never had may not, and
 *          neither may an error. The acknowledged changes lost that way are counted with
 *          their age at the kill; none may be older than --window-ms (default 1000, the
 *          persist-sync-ms within which docs/config.md says a change is on disk; 0 = only
 *          measure). Such late losses do not stop the run, they fail it at the end.
 * Values are made of self-describing records (writer, key, sequence number, length,
 * pseudo-random payload, FNV-1a checksum), so a torn or foreign value is told apart from an
 * old one. Every reply is checked against the model too (INCR's result, APPEND's length,
 * DEL's count); an E_NOMEM refusal (memory is small on purpose, so keys come from disk) is
 * followed by a GET that must show the state before or after. The writers go on from what
 * was read in the next cycle; the server is restarted with the same directories (SSD tier
 * and data dir), --memory 8MiB, --threads 2.
 *
 *   crashloop --cycles N --persist sync|async [--seed S] [--keys K] [--window-ms MS]
 *
 * Prints a line per cycle and a final line; exits non-zero naming the key, what was
 * expected and what was found on the first violation (and keeps the server's directories). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"
#include "harness.h"

#define WRITERS 4
#define REC_HDR 16
#define REC_TRAILER 8
#define REC_MIN (REC_HDR + REC_TRAILER)
#define STREAM_CAP (768 * 1024) /* a stream longer than this is deleted by its next change */
#define RESTART_LIMIT_MS 30000
#ifndef STREAM_SET_PCT
#define STREAM_SET_PCT 4 /* of the changes of stream keys: SETs replacing the stream */
#endif
#define DIGEST_INIT 0x6a09e667f3bcc908ull

/* ---- options ---- */
static int opt_cycles = 10;
static const char *opt_mode = "sync";
static uint64_t opt_seed;
static int opt_keys = 128; /* per writer */
/* async: a kill may only take acknowledged changes younger than this; the default is
 * persist-sync-ms (1000), within which docs/config.md says a change is on disk. 0: measure
 * and report only. */
static int64_t opt_window_ms = 1000;
static char run_dir[300]; /* the SSD tier's parent, kept (with the server's) on a violation */

/* ---- small helpers ---- */

static int64_t _now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t _mix(uint64_t x) /* splitmix64's finaliser */
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t _rand(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return _mix(r->s);
}

/* uniform in [lo, hi] */
static uint64_t _range(struct rng *r, uint64_t lo, uint64_t hi) { return lo + _rand(r) % (hi - lo + 1); }

static uint64_t _fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void _put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t _get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void _put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t _get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- records: the unit every bytes value and stream is made of ----
 * [0xC5, writer, 0x5A, 0xA5, key:u32, seq:u32, total length:u32, payload, fnv64 of all before]
 * The payload is a function of (writer, key, seq), so a record is either exactly the one a
 * writer sent or detectably not. */

static void _payload(uint8_t *p, size_t n, int w, uint32_t key, uint32_t seq)
{
    struct rng r = {_mix(((uint64_t)w << 56) ^ ((uint64_t)key << 32) ^ seq)};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _put64(p + i, _rand(&r));
    uint64_t last = _rand(&r);
    for (; i < n; i++, last >>= 8)
        p[i] = (uint8_t)last;
}

/* Is p exactly the payload _payload makes? */
static bool _payload_ok(const uint8_t *p, size_t n, int w, uint32_t key, uint32_t seq)
{
    struct rng r = {_mix(((uint64_t)w << 56) ^ ((uint64_t)key << 32) ^ seq)};
    uint8_t word[8];
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _put64(word, _rand(&r));
        if (memcmp(word, p + i, 8) != 0)
            return false;
    }
    uint64_t last = _rand(&r);
    for (; i < n; i++, last >>= 8)
        if (p[i] != (uint8_t)last)
            return false;
    return true;
}

static void _rec_build(uint8_t *buf, int w, uint32_t key, uint32_t seq, uint32_t total)
{
    buf[0] = 0xC5;
    buf[1] = (uint8_t)w;
    buf[2] = 0x5A;
    buf[3] = 0xA5;
    _put32(buf + 4, key);
    _put32(buf + 8, seq);
    _put32(buf + 12, total);
    _payload(buf + REC_HDR, total - REC_MIN, w, key, seq);
    _put64(buf + total - REC_TRAILER, _fnv(buf, total - REC_TRAILER));
}

/* The digest of a bytes value or stream: folded over its records' (seq, length). */
static uint64_t _fold(uint64_t d, uint32_t seq, uint32_t total)
{
    return _mix(d ^ ((uint64_t)seq << 32 | total));
}

/* Parse a value of writer w's key `key`: every byte must belong to a whole, intact record of
 * that key. Fills *digest and *nrec; returns NULL or a description of the first bad spot. */
static const char *_parse(const uint8_t *p, size_t len, int w, uint32_t key, uint64_t *digest,
                          uint32_t *nrec, uint32_t *last_seq, char *why, size_t whylen)
{
    uint64_t d = DIGEST_INIT;
    uint32_t n = 0;
    size_t off = 0;
    if (len == 0) {
        snprintf(why, whylen, "an empty value (no writer ever sends one)");
        return why;
    }
    while (off < len) {
        size_t left = len - off;
        const uint8_t *r = p + off;
        if (left < REC_MIN || r[0] != 0xC5 || r[2] != 0x5A || r[3] != 0xA5) {
            snprintf(why, whylen, "no record header at byte %zu of %zu (after %u intact records)",
                     off, len, n);
            return why;
        }
        uint32_t total = _get32(r + 12), seq = _get32(r + 8);
        if (r[1] != w || _get32(r + 4) != key) {
            snprintf(why, whylen, "record %u at byte %zu belongs to writer %d key %u", n, off, r[1],
                     _get32(r + 4));
            return why;
        }
        if (total < REC_MIN || total > left) {
            snprintf(why, whylen,
                     "record %u (seq %u) at byte %zu claims %u bytes, %zu are left: torn", n, seq,
                     off, total, left);
            return why;
        }
        if (_get64(r + total - REC_TRAILER) != _fnv(r, total - REC_TRAILER)) {
            snprintf(why, whylen, "record %u (seq %u, %u bytes) at byte %zu fails its checksum: torn",
                     n, seq, total, off);
            return why;
        }
        if (!_payload_ok(r + REC_HDR, total - REC_MIN, w, key, seq)) {
            snprintf(why, whylen, "record %u (seq %u) at byte %zu has a payload never sent", n, seq,
                     off);
            return why;
        }
        d = _fold(d, seq, total);
        *last_seq = seq;
        n++;
        off += total;
    }
    *digest = d;
    *nrec = n;
    return NULL;
}

/* ---- the model ---- */

enum kind { K_VALUE, K_COUNTER, K_STREAM };
enum op { OP_START, OP_SET, OP_DEL, OP_INCR, OP_APPEND };
static const char *const op_names[] = {"start of cycle", "SET", "DEL", "INCR", "APPEND"};

static enum kind _kind(uint32_t key) { return key % 4 == 2 ? K_COUNTER : key % 4 == 3 ? K_STREAM : K_VALUE; }

/* A key's state: absent, an int (counter keys), or bytes made of records (digest, length,
 * record count; the last record's seq for messages). */
struct state {
    bool present;
    uint64_t digest; /* counters: the value */
    uint64_t len;
    uint32_t nrec;
    uint32_t last_seq;
};

/* One point of a key's history in this cycle: the state after an acknowledged change (or
 * the state the cycle started from, or the state after the request in flight). */
struct hent {
    struct state st;
    int64_t ack_ms; /* -1: start of cycle; -2: in flight, never acknowledged */
    uint32_t opno;  /* the writer's operation number in this cycle */
    uint8_t op;
};

struct history {
    struct hent *e;
    size_t n, cap;
};

struct writer {
    int id;
    pthread_t th;
    const char *sock;
    struct rng rng;
    struct state *cur; /* [opt_keys] */
    struct history *hist; /* [opt_keys] */
    uint32_t seq;        /* next record seq, never reused over the run */
    uint32_t opno;
    /* the request in flight when the writer stopped */
    bool has_inflight;
    uint32_t if_key;
    struct hent inflight;
    /* how it stopped */
    int end_rc;
    char end_msg[256];
    char violation[1024]; /* non-empty: the server answered something the model rules out */
    uint64_t acked, by_op[5], refused;
    uint8_t *buf;
    size_t bufcap;
};

static void _hpush(struct history *h, const struct hent *e)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->e = realloc(h->e, h->cap * sizeof(*h->e));
        assert_non_null(h->e);
    }
    h->e[h->n++] = *e;
}

static void _keyname(char *out, size_t n, int w, uint32_t key)
{
    snprintf(out, n, "crash:w%d:k%05u", w, key);
}

static void _describe(char *out, size_t n, enum kind k, const struct state *s)
{
    if (!s->present)
        snprintf(out, n, "absent");
    else if (k == K_COUNTER)
        snprintf(out, n, "int %lld", (long long)(int64_t)s->digest);
    else
        snprintf(out, n, "%llu bytes in %u records ending with seq %u (digest %016llx)",
                 (unsigned long long)s->len, s->nrec, s->last_seq, (unsigned long long)s->digest);
}

static bool _same(const struct state *a, const struct state *b)
{
    if (a->present != b->present)
        return false;
    return !a->present || (a->digest == b->digest && a->len == b->len);
}

/* Read writer wi's key ki into *found. Returns 0, or -1 when the value is not one the writer
 * could have made (why says how), or the status of a failed GET (why: its message). */
static int _read_key(cc_client *c, int wi, uint32_t ki, struct state *found, char *why,
                     size_t whylen)
{
    char key[64];
    _keyname(key, sizeof(key), wi, ki);
    cc_item it = {0};
    int rc = cc_get(c, key, strlen(key), &it);
    *found = (struct state){0};
    if (rc == CC_NOT_FOUND)
        return 0;
    if (rc != CC_OK) {
        snprintf(why, whylen, "%s", cc_errmsg(c));
        return rc;
    }
    int ret = 0;
    found->present = true;
    if (_kind(ki) == K_COUNTER) {
        if (it.value.type != CC_TYPE_INT) {
            snprintf(why, whylen, "a counter reads as a %s", cc_type_name(it.value.type));
            ret = -1;
        }
        found->digest = (uint64_t)it.value.i;
    } else if (it.value.type != CC_TYPE_BYTES && it.value.type != CC_TYPE_STREAM) {
        snprintf(why, whylen, "reads as a %s, expected bytes", cc_type_name(it.value.type));
        ret = -1;
    } else {
        char bad[600];
        if (_parse(it.value.data, it.value.len, wi, ki, &found->digest, &found->nrec,
                   &found->last_seq, bad, sizeof(bad))) {
            snprintf(why, whylen, "value of %zu bytes is not one its writer sent: %s",
                     it.value.len, bad);
            ret = -1;
        }
        found->len = it.value.len;
    }
    cc_item_release(&it);
    return ret;
}

/* ---- a writer thread ---- */

static uint8_t *_buf(struct writer *w, size_t n)
{
    if (w->bufcap < n) {
        free(w->buf);
        w->bufcap = n * 2;
        w->buf = malloc(w->bufcap);
        if (!w->buf) {
            fprintf(stderr, "crashloop: out of memory\n");
            abort();
        }
    }
    return w->buf;
}

static uint32_t _pick_key(struct writer *w, enum kind k)
{
    for (;;) {
        uint32_t key = (uint32_t)_range(&w->rng, 0, (uint64_t)opt_keys - 1);
        if (_kind(key) == k)
            return key;
    }
}

/* Record length: mostly small, some medium, a few large. */
static uint32_t _reclen(struct writer *w, bool stream)
{
    uint64_t r = _range(&w->rng, 0, 99);
    if (stream)
        return (uint32_t)(r < 85 ? _range(&w->rng, REC_MIN, 1500)
                          : r < 99 ? _range(&w->rng, 1501, 16384)
                                   : _range(&w->rng, 16385, 100000));
    return (uint32_t)(r < 70 ? _range(&w->rng, REC_MIN, 400)
                      : r < 97 ? _range(&w->rng, 401, 8192)
                               : _range(&w->rng, 8193, 100000));
}

static void *_writer_main(void *arg)
{
    struct writer *w = arg;
    cc_options o;
    cc_options_init(&o);
    o.socket_path = w->sock;
    o.io_timeout_ms = 10000;
    o.client_name = "crashloop";
    cc_client *c = cc_client_create(&o);
    if (!c) {
        snprintf(w->violation, sizeof(w->violation), "writer %d: cannot make a client", w->id);
        return NULL;
    }
    char key[64];
    for (;;) {
        uint64_t r = _range(&w->rng, 0, 99);
        enum kind k = r < 40 ? K_VALUE : r < 65 ? K_COUNTER : K_STREAM;
        uint32_t ki = _pick_key(w, k);
        struct state *cur = &w->cur[ki], ns = *cur;
        _keyname(key, sizeof(key), w->id, ki);
        size_t klen = strlen(key);
        uint64_t pick = _range(&w->rng, 0, 99);
        enum op op;
        int64_t delta = 0;
        uint32_t total = 0, seq = 0;
        if (k == K_VALUE)
            op = pick < 85 ? OP_SET : OP_DEL;
        else if (k == K_COUNTER)
            op = pick < 95 ? OP_INCR : OP_DEL;
        else
            op = cur->len > STREAM_CAP         ? (pick < 50 ? OP_SET : OP_DEL)
                 : pick < 94 - STREAM_SET_PCT ? OP_APPEND
                 : pick < 94                  ? OP_SET
                                              : OP_DEL;
        switch (op) {
        case OP_SET:
        case OP_APPEND:
            total = _reclen(w, k == K_STREAM);
            seq = w->seq++;
            _rec_build(_buf(w, total), w->id, ki, seq, total);
            if (op == OP_SET || !cur->present) {
                ns.present = true;
                ns.digest = DIGEST_INIT;
                ns.len = 0;
                ns.nrec = 0;
            }
            ns.digest = _fold(ns.digest, seq, total);
            ns.len += total;
            ns.nrec++;
            ns.last_seq = seq;
            break;
        case OP_DEL:
            ns = (struct state){0};
            break;
        case OP_INCR:
            delta = _range(&w->rng, 0, 9) == 0 ? -(int64_t)_range(&w->rng, 1, 500)
                                                : (int64_t)_range(&w->rng, 1, 1000);
            ns.present = true;
            ns.digest = (uint64_t)((cur->present ? (int64_t)cur->digest : 0) + delta);
            break;
        default:
            break;
        }
        w->has_inflight = true;
        w->if_key = ki;
        w->inflight = (struct hent){.st = ns, .ack_ms = -2, .opno = w->opno, .op = (uint8_t)op};

        int rc;
        char got[160] = "";
        if (op == OP_SET) {
            cc_value v = cc_value_bytes(w->buf, total);
            rc = cc_set(c, key, klen, &v, 0, 0, 0, NULL);
        } else if (op == OP_APPEND) {
            uint64_t nl = 0;
            rc = cc_append(c, key, klen, w->buf, total, 0, &nl);
            if (rc == CC_OK && nl != ns.len)
                snprintf(got, sizeof(got), "APPEND answered length %llu, expected %llu",
                         (unsigned long long)nl, (unsigned long long)ns.len);
        } else if (op == OP_INCR) {
            int64_t res = 0;
            rc = cc_incr(c, key, klen, delta, 0, 0, &res);
            if (rc == CC_OK && res != (int64_t)ns.digest)
                snprintf(got, sizeof(got), "INCR %+lld answered %lld, expected %lld",
                         (long long)delta, (long long)res, (long long)(int64_t)ns.digest);
        } else {
            uint64_t deleted = 0;
            const void *ks[] = {key};
            size_t kl[] = {klen};
            rc = cc_del(c, 1, ks, kl, &deleted);
            if (rc == CC_OK && deleted != (cur->present ? 1u : 0u))
                snprintf(got, sizeof(got), "DEL answered %llu deleted, expected %u",
                         (unsigned long long)deleted, cur->present ? 1u : 0u);
        }
        if (rc >= 200) { /* the connection failed: the server is gone (or hung) */
            w->end_rc = rc;
            snprintf(w->end_msg, sizeof(w->end_msg), "%s", cc_errmsg(c));
            break;
        }
        if (rc == CC_E_NOMEM && !got[0]) {
            /* The server refused for want of memory (with 4 writers and 8 MiB, a key loaded
             * from disk can be evicted again before its request runs, three times over).
             * Read the key: it must be as before (refused) or as after (applied). */
            struct state now;
            char why[700], a[200], b[200], f[200];
            int rr = CC_E_NOMEM;
            for (int tries = 0; tries < 5 && rr == CC_E_NOMEM; tries++)
                rr = _read_key(c, w->id, ki, &now, why, sizeof(why));
            if (rr >= 200) {
                w->end_rc = rr;
                snprintf(w->end_msg, sizeof(w->end_msg), "%s", cc_errmsg(c));
                break;
            }
            if (rr == 0 && _same(&now, cur)) {
                w->has_inflight = false;
                w->refused++;
                continue;
            }
            if (rr == 0 && !_same(&now, &ns)) {
                _describe(a, sizeof(a), k, cur);
                _describe(b, sizeof(b), k, &ns);
                _describe(f, sizeof(f), k, &now);
                snprintf(why, sizeof(why), "found %s, neither %s (before) nor %s (after)", f, a,
                         b);
            }
            if (rr != 0 || !_same(&now, &ns)) {
                snprintf(w->violation, sizeof(w->violation),
                         "key %s: %s answered E_NOMEM, then GET: %s%s%s", key, op_names[op],
                         rr > 0 ? cc_strstatus(rr) : "", rr > 0 ? " " : "", why);
                break;
            }
            /* applied after all: go on as if acknowledged */
        } else if (rc != CC_OK || got[0]) {
            char want[200];
            _describe(want, sizeof(want), k, cur);
            snprintf(w->violation, sizeof(w->violation),
                     "key %s (model before: %s): %s answered %s%s%s%s", key, want, op_names[op],
                     cc_strstatus(rc), rc != CC_OK ? " (" : "", rc != CC_OK ? cc_errmsg(c) : got,
                     rc != CC_OK ? ")" : "");
            break;
        }
        w->inflight.ack_ms = _now_ms();
        _hpush(&w->hist[ki], &w->inflight);
        w->has_inflight = false;
        *cur = ns;
        w->opno++;
        w->acked++;
        w->by_op[op]++;
    }
    cc_client_destroy(&c);
    return NULL;
}

/* ---- the loop ---- */

struct totals {
    uint64_t acked, refused, lost, inflight_applied, inflight_total, late, max_lag_ms;
    int64_t max_lost_age_ms, max_restart_ms, max_restore_ms;
    uint64_t persist_dropped;
    uint64_t late_cycles;
    char late_first[1600];
};

static struct harness *_start_server(const char *ssd)
{
    const char *args[] = {"--memory", "8MiB", "--ssd-path", ssd, "--ssd-size", "1GiB", "--persist",
                          opt_mode, "--threads", "2", NULL};
    return harness_start(args);
}

static _Noreturn void _violation(struct harness *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void _violation(struct harness *h, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "crashloop %s seed %llu: VIOLATION: %s\n", opt_mode,
            (unsigned long long)opt_seed, msg);
    if (h)
        harness_print_log(h, 30);
    fprintf(stderr, "crashloop: kept the server's directory %s and the SSD tier's %s\n",
            h ? harness_dir(h) : "-", run_dir);
    fflush(stderr);
    fail_msg("crash consistency violated (%s): %s", opt_mode, msg);
    abort(); /* not reached */
}

/* Read every key back after a restart; check it against its history; re-sync the model. */
/* Changes lost although acknowledged longer than opt_window_ms before the kill. */
struct late {
    uint64_t n;
    char first[1200];
};

static void _verify(struct harness *h, struct writer *ws, int cycle, int64_t kill_ms,
                    uint64_t *lost_cycle, int64_t *age_cycle, uint64_t *applied,
                    struct late *late)
{
    bool sync = strcmp(opt_mode, "sync") == 0;
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(h);
    o.io_timeout_ms = 20000;
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    char key[64], found_s[1024], want_s[256], if_s[256];
    for (int wi = 0; wi < WRITERS; wi++) {
        struct writer *w = &ws[wi];
        for (uint32_t ki = 0; ki < (uint32_t)opt_keys; ki++) {
            enum kind k = _kind(ki);
            _keyname(key, sizeof(key), wi, ki);
            struct state found;
            int rc = _read_key(c, wi, ki, &found, found_s, sizeof(found_s));
            if (rc == -1)
                _violation(h, "cycle %d key %s: %s", cycle, key, found_s);
            if (rc != 0)
                _violation(h, "cycle %d key %s: GET answered %s (%s) after the restart", cycle, key,
                           cc_strstatus(rc), found_s);
            struct history *hi = &w->hist[ki];
            bool inflight_here = w->has_inflight && w->if_key == ki;
            /* the latest point of history whose state this is (the in-flight one last) */
            ssize_t match = -1;
            bool is_inflight = false;
            if (inflight_here && _same(&found, &w->inflight.st)) {
                match = (ssize_t)hi->n;
                is_inflight = true;
            }
            for (ssize_t i = (ssize_t)hi->n - 1; match < 0 && i >= 0; i--)
                if (_same(&found, &hi->e[i].st))
                    match = i;
            const struct hent *last = &hi->e[hi->n - 1];
            _describe(found_s, sizeof(found_s), k, &found);
            _describe(want_s, sizeof(want_s), k, &last->st);
            if (inflight_here)
                _describe(if_s, sizeof(if_s), k, &w->inflight.st);
            bool ok = sync ? (is_inflight || match == (ssize_t)hi->n - 1) : match >= 0;
            if (!ok) {
                if (sync && match >= 0)
                    _violation(h,
                               "cycle %d key %s: found %s, the state after %s #%u (acknowledged "
                               "%lld ms before the kill, -1: start of the cycle); expected %s "
                               "(after %s #%u)%s%s: %zu acknowledged change(s) lost",
                               cycle, key, found_s, op_names[hi->e[match].op], hi->e[match].opno,
                               hi->e[match].ack_ms < 0 ? -1LL
                                                       : (long long)(kill_ms - hi->e[match].ack_ms),
                               want_s,
                               op_names[last->op], last->opno,
                               inflight_here ? " or, with the request in flight, " : "",
                               inflight_here ? if_s : "", hi->n - 1 - (size_t)match);
                _violation(h,
                           "cycle %d key %s: found %s, a state it never had in this cycle; "
                           "expected %s%s%s%s",
                           cycle, key, found_s, sync ? "" : "at most ", want_s,
                           inflight_here ? " or, with the request in flight, " : "",
                           inflight_here ? if_s : "");
            }
            if (is_inflight)
                (*applied)++;
            /* what was lost: the acknowledged changes after the point found */
            if (!is_inflight && match < (ssize_t)hi->n - 1) {
                size_t first = (size_t)match + 1;
                for (size_t i = first; i < hi->n; i++)
                    if (hi->e[i].ack_ms >= 0)
                        (*lost_cycle)++;
                if (hi->e[first].ack_ms >= 0) {
                    int64_t age = kill_ms - hi->e[first].ack_ms;
                    if (age > *age_cycle)
                        *age_cycle = age;
                    if (opt_window_ms && age > opt_window_ms && !late->n++)
                        snprintf(late->first, sizeof(late->first),
                                 "cycle %d key %s: found %.300s, lost the %s #%u acknowledged %lld "
                                 "ms before the kill (more than %lld ms)",
                                 cycle, key, found_s, op_names[hi->e[first].op],
                                 hi->e[first].opno, (long long)age, (long long)opt_window_ms);
                }
            }
            /* go on from what is there */
            w->cur[ki] = found;
        }
    }
    cc_client_destroy(&c);
}

static void _reset_histories(struct writer *ws)
{
    for (int wi = 0; wi < WRITERS; wi++)
        for (int ki = 0; ki < opt_keys; ki++) {
            struct history *hi = &ws[wi].hist[ki];
            hi->n = 0;
            struct hent start = {.st = ws[wi].cur[ki], .ack_ms = -1, .opno = 0, .op = OP_START};
            _hpush(hi, &start);
        }
}

static void test_crash_loop(void **state)
{
    (void)state;
    bool sync = strcmp(opt_mode, "sync") == 0;
    char ssd[400];
    const char *tmp = getenv("TMPDIR");
    snprintf(run_dir, sizeof(run_dir), "%s/crashloop-%s.XXXXXX", tmp ? tmp : "/tmp", opt_mode);
    assert_non_null(mkdtemp(run_dir));
    snprintf(ssd, sizeof(ssd), "%s/ssd", run_dir);
    struct harness *h = _start_server(ssd);
    assert_non_null(h);

    struct writer ws[WRITERS];
    memset(ws, 0, sizeof(ws));
    for (int wi = 0; wi < WRITERS; wi++) {
        ws[wi].id = wi;
        ws[wi].cur = calloc((size_t)opt_keys, sizeof(struct state));
        ws[wi].hist = calloc((size_t)opt_keys, sizeof(struct history));
        assert_non_null(ws[wi].cur);
        assert_non_null(ws[wi].hist);
        ws[wi].seq = 1;
    }
    struct totals t = {0};
    printf("crashloop: persist=%s seed=%llu cycles=%d keys=%d per writer, %d writers\n", opt_mode,
           (unsigned long long)opt_seed, opt_cycles, opt_keys, WRITERS);
    fflush(stdout);
    struct rng krng = {_mix(opt_seed ^ 0x6b696c6cull)};
    for (int cycle = 1; cycle <= opt_cycles; cycle++) {
        _reset_histories(ws);
        for (int wi = 0; wi < WRITERS; wi++) {
            struct writer *w = &ws[wi];
            w->sock = harness_socket(h);
            w->rng.s = _mix(opt_seed ^ ((uint64_t)cycle << 20) ^ (uint64_t)wi);
            w->opno = 1;
            w->has_inflight = false;
            w->end_rc = 0;
            w->end_msg[0] = 0;
            w->acked = 0;
            w->refused = 0;
            memset(w->by_op, 0, sizeof(w->by_op));
            assert_int_equal(pthread_create(&w->th, NULL, _writer_main, w), 0);
        }
        int64_t delay = (int64_t)_range(&krng, 500, 3000);
        int64_t t0 = _now_ms();
        usleep((useconds_t)delay * 1000);
        /* how far the disk writer was behind just before the kill */
        uint64_t dropped = harness_stat(h, "persist_dropped");
        uint64_t lag = harness_stat(h, "persist_lag_ms");
        uint64_t depth = harness_stat(h, "tier_queue_depth");
        int64_t kill_ms = _now_ms();
        harness_kill(h, SIGKILL);
        uint64_t acked = 0, by_op[5] = {0}, inflight = 0, refused = 0;
        for (int wi = 0; wi < WRITERS; wi++) {
            struct writer *w = &ws[wi];
            pthread_join(w->th, NULL);
            if (w->violation[0])
                _violation(h, "cycle %d, writer %d, while the server ran: %s", cycle, wi,
                           w->violation);
            acked += w->acked;
            refused += w->refused;
            for (int i = 0; i < 5; i++)
                by_op[i] += w->by_op[i];
            inflight += w->has_inflight;
            if (w->end_rc && w->end_rc != CC_E_IO && w->end_rc != CC_E_CONNECT)
                printf("# cycle %d writer %d stopped by %s (%s)\n", cycle, wi,
                       cc_strstatus(w->end_rc), w->end_msg);
        }
        int64_t r0 = _now_ms();
        harness_respawn(h);
        int64_t restart_ms = _now_ms() - r0;
        if (restart_ms > RESTART_LIMIT_MS)
            _violation(h, "cycle %d: the server took %lld ms to answer after the kill (limit %d)",
                       cycle, (long long)restart_ms, RESTART_LIMIT_MS);
        uint64_t lost = 0, applied = 0;
        int64_t age = 0;
        struct late late = {0};
        _verify(h, ws, cycle, kill_ms, &lost, &age, &applied, &late);
        int64_t restore_ms = (int64_t)harness_stat(h, "restore_ms");
        if (sync && lost)
            _violation(h, "cycle %d: %llu acknowledged changes lost", cycle,
                       (unsigned long long)lost);
        t.acked += acked;
        t.refused += refused;
        t.lost += lost;
        t.inflight_total += inflight;
        t.inflight_applied += applied;
        t.persist_dropped += dropped;
        if (age > t.max_lost_age_ms)
            t.max_lost_age_ms = age;
        if (restart_ms > t.max_restart_ms)
            t.max_restart_ms = restart_ms;
        if (restore_ms > t.max_restore_ms)
            t.max_restore_ms = restore_ms;
        t.late += late.n;
        if (lag > t.max_lag_ms)
            t.max_lag_ms = lag;
        printf("cycle %d/%d %s: kill at %lld ms; acked %llu (set %llu del %llu incr %llu append "
               "%llu, refused %llu); in flight %llu, applied %llu; writer lag %llu ms, queue %llu, "
               "dropped %llu; restart %lld ms, restore %lld ms; %d keys ok; lost %llu, oldest %lld "
               "ms%s\n",
               cycle, opt_cycles, opt_mode, (long long)(kill_ms - t0), (unsigned long long)acked,
               (unsigned long long)by_op[OP_SET], (unsigned long long)by_op[OP_DEL],
               (unsigned long long)by_op[OP_INCR], (unsigned long long)by_op[OP_APPEND],
               (unsigned long long)refused,
               (unsigned long long)inflight, (unsigned long long)applied,
               (unsigned long long)lag, (unsigned long long)depth, (unsigned long long)dropped,
               (long long)restart_ms, (long long)restore_ms, WRITERS * opt_keys,
               (unsigned long long)lost, (long long)age,
               late.n ? " (beyond the window)" : "");
        fflush(stdout);
        if (late.n && !t.late_cycles++) /* reported at the end: the run goes on to measure */
            snprintf(t.late_first, sizeof(t.late_first),
                     "%s; %llu acknowledged changes of that cycle were lost although older than "
                     "%lld ms (just before the kill the disk writer's last batch was %llu ms "
                     "behind, %llu jobs queued)",
                     late.first, (unsigned long long)late.n, (long long)opt_window_ms,
                     (unsigned long long)lag, (unsigned long long)depth);
    }
    printf("crashloop %s seed %llu: %s: %d cycles, %llu acknowledged changes (%llu refused "
           "E_NOMEM), %llu lost, the oldest %lld ms before its kill (window %lld ms); in flight "
           "%llu, applied %llu; max writer lag %llu ms; max restart %lld ms, max restore %lld ms; "
           "persist_dropped %llu\n",
           opt_mode, (unsigned long long)opt_seed, t.late_cycles ? "FAILED" : "OK", opt_cycles,
           (unsigned long long)t.acked,
           (unsigned long long)t.refused,
           (unsigned long long)t.lost, (long long)t.max_lost_age_ms, (long long)opt_window_ms,
           (unsigned long long)t.inflight_total, (unsigned long long)t.inflight_applied,
           (unsigned long long)t.max_lag_ms, (long long)t.max_restart_ms,
           (long long)t.max_restore_ms, (unsigned long long)t.persist_dropped);
    fflush(stdout);
    if (t.late_cycles)
        _violation(h, "in %llu of %d cycles acknowledged changes older than the window were lost; "
                      "the first: %s",
                   (unsigned long long)t.late_cycles, opt_cycles, t.late_first);
    harness_destroy(&h);
    for (int wi = 0; wi < WRITERS; wi++) {
        for (int ki = 0; ki < opt_keys; ki++)
            free(ws[wi].hist[ki].e);
        free(ws[wi].hist);
        free(ws[wi].cur);
        free(ws[wi].buf);
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run_dir);
    assert_int_equal(system(cmd), 0);
}

static _Noreturn void _usage(const char *why)
{
    fprintf(stderr, "crashloop: %s\nusage: crashloop --cycles N --persist sync|async [--seed S] "
                    "[--keys K] [--window-ms MS]\n",
            why);
    exit(2);
}

int main(int argc, char **argv)
{
    bool seeded = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            _usage("every option takes a value");
        const char *v = argv[++i];
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        bool num = *v && !*end && errno == 0;
        if (strcmp(a, "--cycles") == 0 && num && n >= 1 && n <= 1000000)
            opt_cycles = (int)n;
        else if (strcmp(a, "--persist") == 0 && (strcmp(v, "sync") == 0 || strcmp(v, "async") == 0))
            opt_mode = v;
        else if (strcmp(a, "--seed") == 0 && num) {
            opt_seed = n;
            seeded = true;
        } else if (strcmp(a, "--keys") == 0 && num && n >= 4 && n <= 100000)
            opt_keys = (int)n;
        else if (strcmp(a, "--window-ms") == 0 && num && n <= 3600000)
            opt_window_ms = (int64_t)n;
        else
            _usage("bad option or value");
    }
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        opt_seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
        opt_seed %= 1000000000000ull;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash_loop)};
    return cmocka_run_group_tests_name("crashloop", tests, NULL, NULL);
}
