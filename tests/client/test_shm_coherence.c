/* Coherence of the shared-memory region under races (docs/shm-reads.md, "Why a read never
 * returns a value older than an acknowledged one", and the Tests table's shm_coherence):
 * "a read may never return a version older than one already acknowledged to anyone before
 * the read began".
 *
 * Writer and reader processes (fork; each makes its own cc_client after the fork) share one
 * anonymous MAP_SHARED page (struct page). For each of 64 keys it holds floor[k], the
 * sequence number of the last write of k that a writer had ACKNOWLEDGED (stored after
 * cc_set / cc_del returned OK). Every SET takes a fresh sequence from a shared counter and
 * writes it into the value; a reader loads floor[k] before each read and fails when the
 * value it reads carries a lower sequence.
 *
 * Why writes of one key are serialised (a per-key try-lock in the page, taken around
 * "take a sequence, send, wait for the ack, store the floor"): with two writers on one key,
 * writer A can take sequence 5, writer B sequence 6, B's SET applied and acknowledged first,
 * then A's: the key holds 5, legitimately (A's SET is the later one), yet the atomic max of
 * acknowledged sequences is 6, and a ">= max" check would fail a correct server. With the
 * lock, a key's sequences grow in the order the server applies them, so floor[k] is exactly
 * the last acknowledged write and "seq >= floor" is exact (no false failure, and any copy
 * from before that write is caught). Writers still race each other on every shard and the
 * readers' socket GETs (which publish) race the writes of the same key. A second, lock-free
 * check: vfloor[k], the highest version cc_set acknowledged (the server's HLC, assigned
 * under the shard lock), must not exceed the version read.
 *
 * Variants, each with its own server (--shm-reads true):
 *   set     SET only: a miss after the first acknowledged SET is a failure too.
 *   del     writers alternate DEL and SET (a DEL acknowledged at sequence s: a later read
 *           is a miss or a value of a later SET, seq > s), plus 4 counter keys that only
 *           INCR by 1: a read returns at least the highest acknowledged INCR result.
 *   ttl     SET with ttl 50-200 ms and TOUCH (50-200 ms): seq >= floor, a miss is fine; and
 *           a key whose last acknowledged SET/TOUCH made it expire before the read began
 *           (by the writer's clock after the ack, plus 10 ms), with no write of it in flight
 *           during the read, must be a miss.
 *   flush   writer 0 FLUSHes the namespace now and then (see _flush_writer: the check is
 *           that nothing at or below the floors it saw before sending the FLUSH is read
 *           after the FLUSH was acknowledged).
 *   evict   --memory 4MiB and an extra writer storing 64 KiB values under other keys.
 *   tier    an SSD tier, --memory 2MiB, the same extra writer: keys are demoted and
 *           promoted while the SET-only check runs (a miss is allowed); keys 32..63 are
 *           written and read rarely, so that they go cold and are read back from the disk.
 * Each writer does WRITER_OPS operations, each reader at least READER_OPS reads (cc_get, or
 * cc_mget of 2-8 keys half the time), and more while writers are still running, up to
 * 4 x READER_OPS: work is bounded by counts; HARD_TIMEOUT_S only stops a hung run. Every
 * variant asserts that the readers' region hits (cc_shm_stats) are > 0, and prints them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_test.h"
#include "harness.h"

#define NKEYS 64
#define NCTR 4
#define NWRITERS 4
#define NREADERS 8
#define WRITER_OPS 2000
#define READER_OPS 5000
#define BIG_OPS 600
#define BIG_LEN (64 * 1024)
#define HARD_TIMEOUT_S 240
#define TTL_SLACK_MS 10
#define FLUSH_EVERY 40
#define VAL_MAGIC 0x5eed5eed5eed5eedull
/* ttl: fewer writes, paced, so that a key often goes longer than its ttl without a write
 * (about 180 ms between writes of a key) and readers read keys that expired */
#define TTL_WRITER_OPS 400
#define TTL_WRITER_SLEEP_US 10000
#define TTL_READER_SLEEP_US 250

enum variant { V_SET, V_DEL, V_TTL, V_FLUSH, V_EVICT, V_TIER };
static const char *const vname[] = {"set", "del", "ttl", "flush", "evict", "tier"};

/* The page the test's processes share. Every field is accessed with __atomic builtins
 * (seq_cst), except msg, written once by the first process that fails. */
struct page {
    uint64_t next_seq;
    uint32_t go, failed, writers_left, pad;
    uint32_t lock[NKEYS];       /* 0: free; else the writer's id + 1 */
    uint64_t gen[NKEYS];        /* odd while a write of k is in flight (ttl check) */
    uint64_t floor[NKEYS];      /* sequence of the last acknowledged SET / DEL of k */
    uint64_t vfloor[NKEYS];     /* highest version an acknowledged SET of k returned */
    uint64_t flushed[NKEYS];    /* sequences <= this were removed by an acknowledged FLUSH */
    uint64_t exp_bound[NKEYS];  /* ttl: wall ms by which k's current item has expired */
    uint64_t ctr_floor[NCTR];   /* highest acknowledged INCR result */
    uint64_t flushes, sets, dels, incrs, touches, bigs;
    uint64_t hits, socket_reads, reads, found, checked_hits;
    uint64_t flush_judged, ttl_judged; /* reads the flush / expiry rule applied to */
    char msg[1024];
};

static struct page *pg;

static inline uint64_t _ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void _st(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline void _add(uint64_t *p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline void _max(uint64_t *p, uint64_t v)
{
    uint64_t cur = _ld(p);
    while (cur < v && !__atomic_compare_exchange_n(p, &cur, v, false, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST))
        ;
}
static inline bool _failed(void) { return __atomic_load_n(&pg->failed, __ATOMIC_SEQ_CST); }

static uint64_t _wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Record the first failure in the page (the others only set nothing) and leave. */
static void __attribute__((noreturn, format(printf, 1, 2))) _die(const char *fmt, ...)
{
    uint32_t zero = 0;
    if (__atomic_compare_exchange_n(&pg->failed, &zero, 1, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pg->msg, sizeof(pg->msg), fmt, ap);
        va_end(ap);
    }
    _exit(1);
}

static uint64_t _rng_state;
static uint32_t _rand(void)
{
    _rng_state ^= _rng_state << 13;
    _rng_state ^= _rng_state >> 7;
    _rng_state ^= _rng_state << 17;
    return (uint32_t)(_rng_state >> 11);
}

static void _key(char *buf, int k) { snprintf(buf, 16, "coh:%02d", k); }
static void _ctr_key(char *buf, int j) { snprintf(buf, 16, "ctr:%d", j); }

/* A value: seq (8 bytes, big-endian), the writer's id, seq ^ VAL_MAGIC, then padding bytes
 * that depend on seq; 24..223 bytes, so entries of several sizes share the rings. */
static size_t _encode(uint8_t *buf, uint64_t seq, uint64_t wid)
{
    size_t len = 24 + seq % 200;
    for (int i = 0; i < 8; i++) {
        buf[i] = (uint8_t)(seq >> (56 - 8 * i));
        buf[8 + i] = (uint8_t)(wid >> (56 - 8 * i));
        buf[16 + i] = (uint8_t)((seq ^ VAL_MAGIC) >> (56 - 8 * i));
    }
    for (size_t i = 24; i < len; i++)
        buf[i] = (uint8_t)(seq * 31 + i);
    return len;
}

/* The sequence a value carries, or 0 when it is not one of _encode's (*wid: its writer). */
static uint64_t _decode(const cc_value *v, uint64_t *wid)
{
    if (v->type != CC_TYPE_BYTES || v->len < 24)
        return 0;
    uint64_t seq = 0, w = 0, x = 0;
    for (int i = 0; i < 8; i++) {
        seq = seq << 8 | v->data[i];
        w = w << 8 | v->data[8 + i];
        x = x << 8 | v->data[16 + i];
    }
    if (x != (seq ^ VAL_MAGIC) || v->len != 24 + seq % 200)
        return 0;
    for (size_t i = 24; i < v->len; i++)
        if (v->data[i] != (uint8_t)(seq * 31 + i))
            return 0;
    *wid = w;
    return seq;
}

static cc_client *_child_client(const char *sock, const char *name)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = sock;
    o.ns = "coh";
    o.client_name = name;
    o.shm_reads = 1;
    o.io_timeout_ms = 20000; /* an ASan build on two busy cores */
    cc_client *c = cc_client_create(&o);
    if (!c)
        _die("%s: cc_client_create failed", name);
    int st = cc_connect(c);
    if (st != CC_OK)
        _die("%s: connect: %s (%s)", name, cc_strstatus(st), cc_errmsg(c));
    return c;
}

static void _wait_go(void)
{
    for (int i = 0; i < 100000 && !__atomic_load_n(&pg->go, __ATOMIC_SEQ_CST); i++)
        usleep(100);
}

/* ---- writers ---- */

/* Take the lock of some key (a free one near a random start: at most 5 writers hold one). */
static int _lock_key(uint32_t wid, enum variant v)
{
    for (;;) {
        int k0 = (int)(_rand() % NKEYS);
        if (v == V_TIER && k0 >= 32 && _rand() % 8) /* cold keys live long enough to be */
            k0 -= 32;                                 /* demoted before they are replaced */
        for (int i = 0; i < NKEYS; i++) {
            int k = (k0 + i) % NKEYS;
            uint32_t zero = 0;
            if (__atomic_compare_exchange_n(&pg->lock[k], &zero, wid + 1, false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                _add(&pg->gen[k], 1); /* odd: a write of k in flight */
                return k;
            }
        }
    }
}

static void _unlock_key(int k)
{
    _add(&pg->gen[k], 1);
    __atomic_store_n(&pg->lock[k], 0, __ATOMIC_SEQ_CST);
}

static void _set_key(cc_client *c, uint32_t wid, int k, uint64_t ttl_ms, enum variant v)
{
    char key[16];
    uint8_t buf[256];
    _key(key, k);
    uint64_t seq = __atomic_add_fetch(&pg->next_seq, 1, __ATOMIC_SEQ_CST);
    cc_value val = cc_value_bytes(buf, _encode(buf, seq, wid));
    uint64_t ver = 0;
    int st = cc_set(c, key, strlen(key), &val, ttl_ms, 0, 0, &ver);
    if (st != CC_OK)
        _die("%s: writer %u: SET %s seq %llu: %s (%s)", vname[v], wid, key,
             (unsigned long long)seq, cc_strstatus(st), cc_errmsg(c));
    uint64_t acked = _wall_ms();
    if (ttl_ms)
        _st(&pg->exp_bound[k], acked + ttl_ms);
    _st(&pg->floor[k], seq); /* the key's writes are serialised: seq only grows */
    _max(&pg->vfloor[k], ver);
    _add(&pg->sets, 1);
}

/* FLUSH of the namespace, and what a reader may conclude from it. A FLUSH removes every item
 * the server applied before it. Which values were surely applied before it? Those whose SET
 * was acknowledged before the FLUSH was sent. So, before sending, the flusher reads every
 * floor[k] (the sequence of the last acknowledged SET of k: that SET and all earlier ones of
 * k were applied before this moment); once the FLUSH is acknowledged it raises flushed[k] to
 * that snapshot. A reader that loaded flushed[k] = f before its read must not see a value
 * of k with seq <= f: that value was removed by a FLUSH acknowledged before the read began.
 * A SET still in flight when the FLUSH is sent has seq > f (it took its sequence after the
 * acknowledged one, under the key's lock), so it may land before or after the FLUSH and is
 * never judged: no false failure. A region that ignored FLUSH keeps serving the copy of
 * the last pre-FLUSH value, whose seq equals the snapshot, until the key is written again:
 * readers read each key several times between two writes of it, so that is caught.
 * (Tagging values with a flush epoch loaded before the SET, as first planned, proves
 * nothing: a SET sent under epoch e may be applied after any number of later FLUSHes, so no
 * "tag < epoch" rule is sound without knowing when it was acknowledged, which is what the
 * floor snapshot captures.) */
static void _flush(cc_client *c, uint32_t wid)
{
    static uint64_t snap[NKEYS];
    for (int k = 0; k < NKEYS; k++)
        snap[k] = _ld(&pg->floor[k]);
    int st = cc_flush(c, "coh", NULL);
    if (st != CC_OK)
        _die("flush: writer %u: FLUSH: %s (%s)", wid, cc_strstatus(st), cc_errmsg(c));
    for (int k = 0; k < NKEYS; k++)
        _max(&pg->flushed[k], snap[k]);
    _add(&pg->flushes, 1);
}

static void _writer(const char *sock, uint32_t wid, enum variant v)
{
    char name[32];
    snprintf(name, sizeof(name), "coh-writer-%u", wid);
    cc_client *c = _child_client(sock, name);
    _wait_go();
    int ops = v == V_TTL ? TTL_WRITER_OPS : WRITER_OPS;
    for (int op = 0; op < ops && !_failed(); op++) {
        if (v == V_TTL)
            usleep(TTL_WRITER_SLEEP_US);
        if (v == V_FLUSH && wid == 0 && op % FLUSH_EVERY == FLUSH_EVERY - 1) {
            _flush(c, wid);
            continue;
        }
        if (v == V_DEL && op % 4 == 3) { /* a counter */
            char key[16];
            int j = (int)(_rand() % NCTR);
            _ctr_key(key, j);
            int64_t r;
            int st = cc_incr(c, key, strlen(key), 1, 0, 0, &r);
            if (st != CC_OK)
                _die("del: writer %u: INCR %s: %s (%s)", wid, key, cc_strstatus(st),
                     cc_errmsg(c));
            _max(&pg->ctr_floor[j], (uint64_t)r);
            _add(&pg->incrs, 1);
            continue;
        }
        int k = _lock_key(wid, v);
        if (v == V_DEL && op % 2 == 1) {
            char key[16];
            _key(key, k);
            const void *kp[] = {key};
            size_t kl[] = {strlen(key)};
            uint64_t seq = __atomic_add_fetch(&pg->next_seq, 1, __ATOMIC_SEQ_CST), n;
            int st = cc_del(c, 1, kp, kl, &n);
            if (st != CC_OK)
                _die("del: writer %u: DEL %s seq %llu: %s (%s)", wid, key,
                     (unsigned long long)seq, cc_strstatus(st), cc_errmsg(c));
            _st(&pg->floor[k], seq); /* any later value comes from a SET with a higher seq */
            _add(&pg->dels, 1);
        } else if (v == V_TTL && _rand() % 3 == 0) {
            char key[16];
            _key(key, k);
            uint64_t ttl = 50 + _rand() % 151;
            int st = cc_touch(c, key, strlen(key), ttl);
            if (st == CC_OK)
                _st(&pg->exp_bound[k], _wall_ms() + ttl);
            else if (st != CC_NOT_FOUND)
                _die("ttl: writer %u: TOUCH %s: %s (%s)", wid, key, cc_strstatus(st),
                     cc_errmsg(c));
            _add(&pg->touches, 1);
        } else {
            _set_key(c, wid, k, v == V_TTL ? 50 + _rand() % 151 : 0, v);
        }
        _unlock_key(k);
    }
    cc_client_destroy(&c);
}

/* The extra writer of evict and tier: 64 KiB values under keys of their own, never read. */
static void _big_writer(const char *sock)
{
    cc_client *c = _child_client(sock, "coh-big");
    uint8_t *buf = malloc(BIG_LEN);
    if (!buf)
        _die("big writer: out of memory");
    _wait_go();
    for (int op = 0; op < BIG_OPS && !_failed(); op++) {
        char key[16];
        snprintf(key, sizeof(key), "big:%d", op % 300);
        memset(buf, 'a' + op % 26, BIG_LEN);
        cc_value val = cc_value_bytes(buf, BIG_LEN);
        int st = cc_set(c, key, strlen(key), &val, 0, 0, 0, NULL);
        if (st != CC_OK)
            _die("big writer: SET %s: %s (%s)", key, cc_strstatus(st), cc_errmsg(c));
        _add(&pg->bigs, 1);
    }
    free(buf);
    cc_client_destroy(&c);
}

/* ---- readers ---- */

#define MAXK 8

struct before { /* what a reader loaded before the read */
    int k;         /* key index, or -1 - j for counter j */
    uint64_t gen, floor, vfloor, flushed, exp_bound, ctr;
};

static void _load_before(struct before *b)
{
    if (b->k < 0) {
        b->ctr = _ld(&pg->ctr_floor[-1 - b->k]);
        return;
    }
    b->gen = _ld(&pg->gen[b->k]);
    b->exp_bound = _ld(&pg->exp_bound[b->k]);
    b->floor = _ld(&pg->floor[b->k]);
    b->vfloor = _ld(&pg->vfloor[b->k]);
    b->flushed = _ld(&pg->flushed[b->k]);
}

/* Judge one answer against what was loaded before the read began (start_ms: the wall clock
 * then). region: the answer came from the region (1), the socket (0), unknown (-1, MGET). */
static void _check(enum variant v, uint32_t rid, const struct before *b, const cc_item *it,
                   uint64_t start_ms, int region)
{
    static const char *const src[] = {"unknown (mget)", "socket", "region"};
    const char *from = src[region + 1];
    if (b->k < 0) {
        int j = -1 - b->k;
        if (!it->found) {
            if (b->ctr)
                _die("%s: reader %u: ctr:%d missing, floor %llu (from %s)", vname[v], rid, j,
                     (unsigned long long)b->ctr, from);
            return;
        }
        if (it->value.type != CC_TYPE_INT || it->value.i < (int64_t)b->ctr)
            _die("STALE %s: reader %u: ctr:%d read %lld (type %d), floor %llu (from %s)",
                 vname[v], rid, j, (long long)it->value.i, it->value.type,
                 (unsigned long long)b->ctr, from);
        return;
    }
    char key[16];
    _key(key, b->k);
    if (b->flushed && b->flushed == b->floor)
        _add(&pg->flush_judged, 1); /* not written since a FLUSH: must be a miss */
    bool expired = v == V_TTL && !(b->gen & 1) && b->exp_bound &&
                   b->exp_bound + TTL_SLACK_MS < start_ms && _ld(&pg->gen[b->k]) == b->gen;
    if (expired)
        _add(&pg->ttl_judged, 1);
    if (!it->found) {
        if (v == V_SET && b->floor)
            _die("set: reader %u: %s missing, floor %llu (from %s)", rid, key,
                 (unsigned long long)b->floor, from);
        return;
    }
    uint64_t wid = 0, seq = _decode(&it->value, &wid);
    if (!seq)
        _die("%s: reader %u: %s holds a value that is not a writer's (type %d, %zu bytes, "
             "from %s)", vname[v], rid, key, it->value.type, it->value.len, from);
    if (seq < b->floor)
        _die("STALE %s: reader %u: %s read seq %llu (writer %llu, version %llu), floor %llu "
             "(vfloor %llu) loaded before the read (from %s)", vname[v], rid, key,
             (unsigned long long)seq, (unsigned long long)wid,
             (unsigned long long)it->version, (unsigned long long)b->floor,
             (unsigned long long)b->vfloor, from);
    if (it->version < b->vfloor)
        _die("STALE %s: reader %u: %s read version %llu (seq %llu), an acknowledged SET "
             "returned version %llu before the read (floor %llu, from %s)", vname[v], rid,
             key, (unsigned long long)it->version, (unsigned long long)seq,
             (unsigned long long)b->vfloor, (unsigned long long)b->floor, from);
    if (seq <= b->flushed)
        _die("STALE %s: reader %u: %s read seq %llu after a FLUSH acknowledged when the "
             "key's acknowledged floor was %llu (current floor %llu, from %s)", vname[v], rid,
             key, (unsigned long long)seq, (unsigned long long)b->flushed,
             (unsigned long long)b->floor, from);
    if (expired)
        _die("EXPIRED ttl: reader %u: %s read seq %llu (floor %llu), its last acknowledged "
             "SET/TOUCH made it expire by %llu, the read began at %llu, no write in flight "
             "(from %s)", rid, key, (unsigned long long)seq, (unsigned long long)b->floor,
             (unsigned long long)b->exp_bound, (unsigned long long)start_ms, from);
}

/* A key for a read: a counter now and then in del, else one of the 64 keys, with the first
 * 8 read more often (hot keys get published and answered from the region). */
static int _pick(enum variant v)
{
    if (v == V_DEL && _rand() % 8 == 0)
        return -1 - (int)(_rand() % NCTR);
    if (v == V_TIER) /* keys 32..63 are read rarely: they go cold, are demoted, and a read
                      * promotes them while writers may replace them */
        return _rand() % 64 == 0 ? 32 + (int)(_rand() % 32)
                                 : _rand() % 2 ? (int)(_rand() % 8) : (int)(_rand() % 32);
    return _rand() % 2 ? (int)(_rand() % 8) : (int)(_rand() % NKEYS);
}

static void _reader(const char *sock, uint32_t rid, enum variant v)
{
    char name[32];
    snprintf(name, sizeof(name), "coh-reader-%u", rid);
    cc_client *c = _child_client(sock, name);
    _wait_go();
    uint64_t reads = 0, found = 0, checked_hits = 0;
    for (int op = 0; op < 4 * READER_OPS && !_failed(); op++) {
        if (op >= READER_OPS && !__atomic_load_n(&pg->writers_left, __ATOMIC_SEQ_CST))
            break;
        if (v == V_TTL)
            usleep(TTL_READER_SLEEP_US);
        int n = _rand() % 2 ? 1 : 2 + (int)(_rand() % (MAXK - 1));
        struct before b[MAXK];
        char keys[MAXK][16];
        const void *kp[MAXK];
        size_t kl[MAXK];
        for (int i = 0; i < n; i++) {
            b[i].k = _pick(v);
            if (b[i].k < 0)
                _ctr_key(keys[i], -1 - b[i].k);
            else
                _key(keys[i], b[i].k);
            kp[i] = keys[i];
            kl[i] = strlen(keys[i]);
            _load_before(&b[i]);
        }
        uint64_t start = _wall_ms();
        cc_shm_info s0, s1;
        cc_shm_stats(c, &s0);
        cc_item out[MAXK];
        int st = n == 1 ? cc_get(c, kp[0], kl[0], &out[0]) : cc_mget(c, (size_t)n, kp, kl, out);
        cc_shm_stats(c, &s1);
        if (n == 1 && st == CC_NOT_FOUND) {
            out[0].found = false;
            st = CC_OK;
        } else if (n == 1 && st == CC_OK) {
            out[0].found = true;
        }
        /* an MGET whose keys loaded from disk were evicted before it ran (test_tier's 2 MiB
         * of memory): the documented E_NOMEM, no value to judge; the next read goes on */
        if (n > 1 && st == CC_E_NOMEM)
            continue;
        if (st != CC_OK)
            _die("%s: reader %u: %s of %d keys: %s (%s)", vname[v], rid, n == 1 ? "GET" : "MGET",
                 n, cc_strstatus(st), cc_errmsg(c));
        int region = n == 1 ? (s1.hits > s0.hits) : -1;
        for (int i = 0; i < n; i++) {
            _check(v, rid, &b[i], &out[i], start, region);
            reads++;
            found += out[i].found;
            cc_item_release(&out[i]);
        }
        if (s1.hits > s0.hits && b[0].k >= 0 && (n > 1 || b[0].floor))
            checked_hits += s1.hits - s0.hits;
    }
    cc_shm_info s;
    cc_shm_stats(c, &s);
    _add(&pg->hits, s.hits);
    _add(&pg->socket_reads, s.socket_reads);
    _add(&pg->reads, reads);
    _add(&pg->found, found);
    _add(&pg->checked_hits, checked_hits);
    cc_client_destroy(&c);
}

/* ---- the parent ---- */

static void _run(enum variant v)
{
    char ssd_base[256] = "", ssd[300];
    const char *set_args[] = {"--memory", "64MiB", "--shm-reads", "true", "--threads", "2", NULL};
    const char *evict_args[] = {"--memory", "4MiB", "--shm-read-size", "4MiB", "--shm-reads",
                                "true", "--threads", "2", NULL};
    const char *tier_args[] = {"--memory", "2MiB", "--shm-read-size", "4MiB", "--shm-reads",
                               "true", "--ssd-path", ssd, "--demote-unread", "true",
                               "--tier-queue", "100000", "--threads", "2", NULL};
    const char *const *args = set_args;
    if (v == V_EVICT)
        args = evict_args;
    if (v == V_TIER) {
        const char *t = getenv("TMPDIR");
        snprintf(ssd_base, sizeof(ssd_base), "%s/coh-ssd.XXXXXX", t ? t : "/tmp");
        assert_non_null(mkdtemp(ssd_base));
        snprintf(ssd, sizeof(ssd), "%s/ssd", ssd_base);
        args = tier_args;
    }
    pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(pg != MAP_FAILED);
    memset(pg, 0, sizeof(*pg));
    srv = harness_start(args);
    const char *sock = harness_socket(srv);
    bool big = v == V_EVICT || v == V_TIER;
    int nchild = NWRITERS + NREADERS + big;
    pid_t pids[NWRITERS + NREADERS + 1];
    __atomic_store_n(&pg->writers_left, NWRITERS + big, __ATOMIC_SEQ_CST);
    fflush(NULL);
    uint64_t t0 = client_test_now_ms();
    for (int i = 0; i < nchild; i++) {
        pid_t p = fork();
        assert_true(p >= 0);
        if (p == 0) {
            _rng_state = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ (uint64_t)getpid();
            if (i < NWRITERS)
                _writer(sock, (uint32_t)i, v);
            else if (i < NWRITERS + NREADERS)
                _reader(sock, (uint32_t)(i - NWRITERS), v);
            else
                _big_writer(sock);
            if (i < NWRITERS || i == NWRITERS + NREADERS)
                __atomic_fetch_sub(&pg->writers_left, 1, __ATOMIC_SEQ_CST);
            _exit(0);
        }
        pids[i] = p;
    }
    __atomic_store_n(&pg->go, 1, __ATOMIC_SEQ_CST);

    /* Wait for every child; a hung run is stopped at HARD_TIMEOUT_S. */
    int left = nchild, bad = 0;
    char why[256] = "";
    uint64_t deadline = t0 + HARD_TIMEOUT_S * 1000ull;
    while (left > 0) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            for (int i = 0; i < nchild; i++)
                if (pids[i] == p) {
                    pids[i] = 0;
                    left--;
                    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        if (!bad)
                            snprintf(why, sizeof(why), "child %d (%s) ended with status 0x%x",
                                     i, i < NWRITERS ? "writer"
                                        : i < NWRITERS + NREADERS ? "reader" : "big writer",
                                     status);
                        bad++;
                    }
                }
            continue;
        }
        if (p < 0 && errno != EINTR)
            break;
        if (client_test_now_ms() > deadline) {
            snprintf(why, sizeof(why), "%d children still running after %d s: killed", left,
                     HARD_TIMEOUT_S);
            for (int i = 0; i < nchild; i++)
                if (pids[i] > 0) {
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], NULL, 0);
                }
            bad++;
            break;
        }
        usleep(10000);
    }
    uint64_t ms = client_test_now_ms() - t0;
    printf("# %s: %llu ms; writes: %llu SET, %llu DEL, %llu INCR, %llu TOUCH, %llu FLUSH, "
           "%llu big SET; reads: %llu (%llu found), region hits %llu (%llu with a non-zero "
           "floor), socket reads %llu; judged by the flush rule %llu, by the expiry rule %llu; "
           "server: shm.published %llu, shm.invalidated %llu, evictions %llu",
           vname[v], (unsigned long long)ms, (unsigned long long)_ld(&pg->sets),
           (unsigned long long)_ld(&pg->dels), (unsigned long long)_ld(&pg->incrs),
           (unsigned long long)_ld(&pg->touches), (unsigned long long)_ld(&pg->flushes),
           (unsigned long long)_ld(&pg->bigs), (unsigned long long)_ld(&pg->reads),
           (unsigned long long)_ld(&pg->found), (unsigned long long)_ld(&pg->hits),
           (unsigned long long)_ld(&pg->checked_hits),
           (unsigned long long)_ld(&pg->socket_reads),
           (unsigned long long)_ld(&pg->flush_judged), (unsigned long long)_ld(&pg->ttl_judged),
           (unsigned long long)harness_stat(srv, "shm.published"),
           (unsigned long long)harness_stat(srv, "shm.invalidated"),
           (unsigned long long)harness_stat(srv, "evictions"));
    if (v == V_TIER)
        printf(", demotions %llu, promotions %llu",
               (unsigned long long)harness_stat(srv, "demotions"),
               (unsigned long long)harness_stat(srv, "promotions"));
    printf("\n");
    fflush(stdout);
    char msg[sizeof(pg->msg) + sizeof(why) + 4];
    snprintf(msg, sizeof(msg), "%s%s%s", _failed() ? pg->msg : "", _failed() ? "; " : "", why);
    bool failed = _failed() || bad;
    uint64_t hits = _ld(&pg->hits), flush_judged = _ld(&pg->flush_judged),
             ttl_judged = _ld(&pg->ttl_judged);
    if (failed)
        harness_print_log(srv, 30);
    harness_destroy(&srv);
    munmap(pg, sizeof(*pg));
    pg = NULL;
    if (ssd_base[0]) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ssd_base);
        assert_int_equal(system(cmd), 0);
    }
    if (failed)
        fail_msg("%s: %s", vname[v], msg);
    assert_true(hits > 0); /* else the test proved nothing about the region */
    if (v == V_FLUSH) /* reads of keys not written since a FLUSH: the rule had work */
        assert_true(flush_judged > 0);
    if (v == V_TTL) /* reads of keys past their expiry: the rule had work */
        assert_true(ttl_judged > 0);
}

static void test_set(void **state) { (void)state; _run(V_SET); }
static void test_del_incr(void **state) { (void)state; _run(V_DEL); }
static void test_ttl(void **state) { (void)state; _run(V_TTL); }
static void test_flush(void **state) { (void)state; _run(V_FLUSH); }
static void test_evict(void **state) { (void)state; _run(V_EVICT); }
static void test_tier(void **state) { (void)state; _run(V_TIER); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set),   cmocka_unit_test(test_del_incr),
        cmocka_unit_test(test_ttl),   cmocka_unit_test(test_flush),
        cmocka_unit_test(test_evict), cmocka_unit_test(test_tier),
    };
    return cmocka_run_group_tests_name("shm_coherence", tests, NULL, group_teardown);
}
