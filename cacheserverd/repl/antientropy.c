/* Anti-entropy (docs/replication.md, "Anti-entropy"): every anti-entropy-interval seconds the
 * receiver of a peer's changes compares, bucket by bucket, what the two nodes hold, and gets
 * the items of the buckets that differ, which it applies by last-writer-wins like a full
 * sync's. It repairs what the stream missed and spreads a third node's changes when that
 * node's link to this one is down. All on the link thread, in steps.
 *
 * What is compared: items in memory stamped before the round's cutoff (a few seconds ago:
 * later ones are still on their way) and above both nodes' gone marks for their slice. An
 * item at or below either mark was evicted, demoted, deleted or expired near there on one of
 * the nodes, so it is left out on both: eviction is local and stays local (a node's evicted
 * or demoted keys are not pulled back, an eviction storm is not undone), and the buckets of
 * two nodes with different memory do not differ forever.
 *
 * A round, receiver R and sender S (the link that carries S's changes to R):
 *   R: MARKS (its gone marks), BEGIN (the cutoff)
 *   S: walks memory for its digests; MARKS (its own), DIGEST
 *   R: walks memory for its digests; WANT (the buckets that differ, at most AE_MAX_BUCKETS)
 *   S: walks memory again, AE_ITEM for each item of those buckets, END
 * A bucket's digest is the XOR of a hash of (key hash, version, node id) of its items. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "repl-internal.h"
#include "store.h"

#define AE_SETTLE_MS 2000     /* items newer than this are still on their way: left out */
#define AE_MAX_BUCKETS 256u   /* buckets one round sends, at most (of REPL_AE_BUCKETS) */
#define AE_TIMEOUT_MS 60000   /* a round not ended by then is given up */
#define AE_FILL (1u << 20)    /* the sender's output is refilled below this */

enum ae_stage {
    AE_IDLE,
    AE_WAIT_DIGEST, /* receiver: asked; waits for the sender's marks and digests */
    AE_WALK,        /* either: walking memory for the digests */
    AE_WAIT_ITEMS,  /* receiver: wants buckets; waits for their items and END */
    AE_WAIT_WANT,   /* sender: sent its digests; waits for WANT */
    AE_SEND,        /* sender: walking memory, sending the items wanted */
};

/* One side of a round: this node as the receiver (rx) or as the sender (tx) of the link. */
struct ae_side {
    enum ae_stage stage;
    uint64_t round, cutoff, started_ms;
    uint16_t ns;
    uint64_t cursor;
    uint64_t *mine_s, *theirs_s; /* gone marks: this node's (at the round's start), the peer's */
    uint16_t *mine_o, *theirs_o;
    uint64_t digest[REPL_AE_BUCKETS];
    uint64_t their_digest[REPL_AE_BUCKETS]; /* rx only */
    uint8_t want[REPL_AE_BUCKETS / 8];
};

struct ae {
    struct peer *p;
    struct ae_side rx, tx;
    struct event *timer, *step;
    uint64_t next_round;
};

static uint64_t _now_ms(void) { return clock_mono_us() / 1000; }

static void _side_free(struct ae_side *s)
{
    free(s->mine_s);
    free(s->theirs_s);
    free(s->mine_o);
    free(s->theirs_o);
    memset(s, 0, sizeof(*s));
}

static bool _side_alloc(struct ae_side *s)
{
    _side_free(s);
    s->mine_s = calloc(REPL_GONE_SLICES, sizeof(uint64_t));
    s->theirs_s = calloc(REPL_GONE_SLICES, sizeof(uint64_t));
    s->mine_o = calloc(REPL_GONE_SLICES, sizeof(uint16_t));
    s->theirs_o = calloc(REPL_GONE_SLICES, sizeof(uint16_t));
    if (!s->mine_s || !s->theirs_s || !s->mine_o || !s->theirs_o) {
        _side_free(s);
        return false;
    }
    s->started_ms = _now_ms();
    return true;
}

static void _snapshot_marks(struct ae_side *s)
{
    for (uint32_t first = 0; first < REPL_GONE_SLICES; first += REPL_GONE_CHUNK)
        store_gone_marks(first, REPL_GONE_CHUNK, s->mine_s + first, s->mine_o + first);
}

static void _send_marks(struct evbuffer *out, const struct ae_side *s)
{
    for (uint32_t first = 0; first < REPL_GONE_SLICES; first += REPL_GONE_CHUNK)
        repl_send_ae_marks(out, s->round, first, REPL_GONE_CHUNK, s->mine_s + first,
                           s->mine_o + first);
}

static void _take_marks(struct ae_side *s, const struct repl_msg *m)
{
    repl_marks_decode(m, s->theirs_s + m->u[1], s->theirs_o + m->u[1], m->u[2]);
}

static inline bool _above(uint64_t v, uint16_t o, uint64_t s, uint16_t so)
{
    return v > s || (v == s && o > so);
}

static inline uint64_t _mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The bucket of an item that the round compares, or -1 when it is left out. */
static int _bucket(const struct ae_side *s, const struct store_key *k, struct item *it,
                   uint64_t *h)
{
    uint64_t v = store_item_version(it);
    uint16_t o = store_item_origin(it);
    if (!o)
        o = repl.node_id;
    if (!v || v >= s->cutoff)
        return -1;
    uint32_t slice = (uint32_t)(k->hash >> (64 - STORE_GONE_BITS));
    if (!_above(v, o, s->mine_s[slice], s->mine_o[slice]) ||
        !_above(v, o, s->theirs_s[slice], s->theirs_o[slice]))
        return -1;
    *h = _mix(k->hash ^ _mix(v ^ (uint64_t)o << 48));
    return (int)(k->hash >> 52);
}

static void _digest_item(void *arg, const struct store_key *k, struct item *it)
{
    struct ae_side *s = arg;
    uint64_t h;
    int b = _bucket(s, k, it, &h);
    if (b >= 0)
        s->digest[b] ^= h;
}

struct send_ctx {
    struct ae_side *s;
    struct evbuffer *out;
};

static void _send_wanted(void *arg, const struct store_key *k, struct item *it)
{
    struct send_ctx *c = arg;
    uint64_t h;
    int b = _bucket(c->s, k, it, &h);
    if (b >= 0 && (c->s->want[b / 8] >> (b % 8) & 1))
        repl_item_send(c->out, k, store_ns_name(k->ns), it, true);
}

/* Start side s's digest walk (run in steps by _step_cb). */
static void _walk_begin(struct ae *a, struct ae_side *s)
{
    memset(s->digest, 0, sizeof(s->digest));
    s->ns = 0;
    s->cursor = 0;
    s->stage = AE_WALK;
    event_active(a->step, EV_TIMEOUT, 0);
}

/* ---- the receiver's side ---- */

static void _rx_begin(struct ae *a)
{
    struct peer *p = a->p;
    struct ae_side *s = &a->rx;
    if (!p->in || p->rx_full || !p->have_pos || s->stage != AE_IDLE || !_side_alloc(s))
        return;
    s->round = ++a->next_round;
    s->cutoff = store_clock_now() - ((uint64_t)AE_SETTLE_MS << 16);
    _snapshot_marks(s);
    struct evbuffer *out = repl_conn_output(p->in);
    _send_marks(out, s);
    repl_send_ae(out, REPL_AE_BEGIN, s->round, s->cutoff, NULL, 0);
    s->stage = AE_WAIT_DIGEST;
}

/* The receiver's digests are done: WANT the buckets that differ, or end the round. */
static void _rx_compare(struct ae *a)
{
    struct peer *p = a->p;
    struct ae_side *s = &a->rx;
    unsigned n = 0;
    if (!p->in) {
        _side_free(s);
        return;
    }
    memset(s->want, 0, sizeof(s->want));
    for (unsigned b = 0; b < REPL_AE_BUCKETS && n < AE_MAX_BUCKETS; b++)
        if (s->digest[b] != s->their_digest[b]) {
            s->want[b / 8] |= (uint8_t)(1u << (b % 8));
            n++;
        }
    stat_add(&p->st.ae_buckets, n);
    if (!n) {
        stat_incr(&p->st.ae_rounds);
        _side_free(s);
        return;
    }
    repl_send_ae(repl_conn_output(p->in), REPL_AE_WANT, s->round, n, s->want, sizeof(s->want));
    s->stage = AE_WAIT_ITEMS;
}

int repl_ae_on_inbound(struct peer *p, const struct repl_msg *m)
{
    struct ae *a = p->ae;
    struct ae_side *s = &a->rx;
    uint64_t hash;
    if (m->type == REPL_AE_ITEM) { /* an item carries no round: the round waiting for them */
        if (s->stage == AE_WAIT_ITEMS && repl_apply(p, &m->c, true, &hash) == STORE_OK)
            stat_incr(&p->st.ae_repaired);
        return 0;
    }
    if (m->u[0] != s->round || s->stage == AE_IDLE)
        return 0; /* a round given up meanwhile */
    switch (m->ae_kind) {
    case REPL_AE_MARKS:
        if (s->stage == AE_WAIT_DIGEST)
            _take_marks(s, m);
        return 0;
    case REPL_AE_DIGEST:
        if (s->stage != AE_WAIT_DIGEST)
            return 0;
        for (unsigned b = 0; b < REPL_AE_BUCKETS; b++) {
            uint64_t v = 0;
            for (int i = 7; i >= 0; i--)
                v = v << 8 | m->ae_bin[b * 8 + (unsigned)i];
            s->their_digest[b] = v;
        }
        _walk_begin(a, s);
        return 0;
    case REPL_AE_END:
        if (s->stage == AE_WAIT_ITEMS) {
            stat_incr(&p->st.ae_rounds);
            _side_free(s);
        }
        return 0;
    default:
        repl_protocol_error(p->in, "an anti-entropy message a receiver does not take");
        return -1;
    }
}

/* ---- the sender's side ---- */

int repl_ae_on_outbound(struct peer *p, const struct repl_msg *m)
{
    struct ae *a = p->ae;
    struct ae_side *s = &a->tx;
    switch (m->ae_kind) {
    case REPL_AE_MARKS:
        if (s->round != m->u[0] || s->stage == AE_IDLE) { /* a new round */
            if (!_side_alloc(s))
                return 0; /* no memory: the receiver gives up after AE_TIMEOUT_MS */
            s->round = m->u[0];
            s->stage = AE_WAIT_DIGEST; /* here: collecting the receiver's marks */
        }
        _take_marks(s, m);
        return 0;
    case REPL_AE_BEGIN:
        if (s->round != m->u[0] || s->stage != AE_WAIT_DIGEST)
            return 0;
        s->cutoff = m->u[1];
        _snapshot_marks(s);
        _walk_begin(a, s);
        return 0;
    case REPL_AE_WANT:
        if (s->round != m->u[0] || s->stage != AE_WAIT_WANT)
            return 0;
        memcpy(s->want, m->ae_bin, sizeof(s->want));
        s->ns = 0;
        s->cursor = 0;
        s->stage = AE_SEND;
        repl_ae_fill(p);
        return 0;
    default:
        repl_protocol_error(p->out, "an anti-entropy message a sender does not take");
        return -1;
    }
}

/* The sender's digests are done: its marks and digests to the receiver. */
static void _tx_answer(struct ae *a)
{
    struct ae_side *s = &a->tx;
    struct evbuffer *out = repl_conn_output(a->p->out);
    static uint8_t bin[REPL_AE_BUCKETS * 8];
    for (unsigned b = 0; b < REPL_AE_BUCKETS; b++)
        for (int i = 0; i < 8; i++)
            bin[b * 8 + (unsigned)i] = (uint8_t)(s->digest[b] >> (8 * i));
    _send_marks(out, s);
    repl_send_ae(out, REPL_AE_DIGEST, s->round, 0, bin, sizeof(bin));
    s->stage = AE_WAIT_WANT;
}

void repl_ae_fill(struct peer *p)
{
    struct ae *a = p->ae;
    if (!a || a->tx.stage != AE_SEND || !p->out || p->ostate != OUT_STREAM)
        return;
    struct evbuffer *out = repl_conn_output(p->out);
    struct send_ctx c = {&a->tx, out};
    while (evbuffer_get_length(out) < AE_FILL) {
        if (!repl_walk_step(&a->tx.ns, &a->tx.cursor, _send_wanted, &c)) {
            repl_send_ae(out, REPL_AE_END, a->tx.round, 0, NULL, 0);
            _side_free(&a->tx);
            return;
        }
    }
}

/* ---- steps and the timer ---- */

/* One step of a digest walk, for either side. */
static void _step_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ae *a = arg;
    struct ae_side *sides[2] = {&a->rx, &a->tx};
    for (int i = 0; i < 2; i++) {
        struct ae_side *s = sides[i];
        if (s->stage != AE_WALK)
            continue;
        if (repl_walk_step(&s->ns, &s->cursor, _digest_item, s)) {
            event_active(a->step, EV_TIMEOUT, 0);
            continue;
        }
        if (s == &a->rx)
            _rx_compare(a);
        else if (a->p->out)
            _tx_answer(a);
        else
            _side_free(s);
    }
}

static void _timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ae *a = arg;
    if (a->rx.stage != AE_IDLE && _now_ms() - a->rx.started_ms > AE_TIMEOUT_MS) {
        log_info("replication: peer %s: an anti-entropy round got no answer; given up",
                 a->p->name);
        _side_free(&a->rx);
    }
    _rx_begin(a);
}

int repl_ae_setup(struct event_base *base, struct peer *p)
{
    struct ae *a = calloc(1, sizeof(*a));
    if (!a)
        return -1;
    a->p = p;
    a->next_round = (uint64_t)p->idx << 48 | (clock_wall_ms() & 0xffffffffffffull);
    a->step = event_new(base, -1, 0, _step_cb, a);
    a->timer = repl.ae_interval_ms ? event_new(base, -1, EV_PERSIST, _timer_cb, a) : NULL;
    if (!a->step || (repl.ae_interval_ms && !a->timer)) {
        if (a->step)
            event_free(a->step);
        if (a->timer)
            event_free(a->timer);
        free(a);
        return -1;
    }
    if (a->timer) {
        struct timeval tv = {(time_t)(repl.ae_interval_ms / 1000),
                             (suseconds_t)(repl.ae_interval_ms % 1000) * 1000};
        event_add(a->timer, &tv);
    }
    p->ae = a;
    return 0;
}

void repl_ae_link_down(struct peer *p, bool outbound)
{
    if (p->ae)
        _side_free(outbound ? &p->ae->tx : &p->ae->rx);
}

void repl_ae_teardown(struct peer *p)
{
    struct ae *a = p->ae;
    if (!a)
        return;
    _side_free(&a->rx);
    _side_free(&a->tx);
    event_free(a->step);
    if (a->timer)
        event_free(a->timer);
    free(a);
    p->ae = NULL;
}
