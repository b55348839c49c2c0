/* A full sync (docs/replication.md, "Full sync"), both ends, on the link thread. The sender
 * sends its gone marks, then walks its memory and its disk tiers in steps (the next step
 * only when the link's output has drained) and sends every item; the receiver, after
 * SYNCED, walks its own memory and disk tiers in steps between the link thread's other
 * events and removes what is older than the sync, was not sent, and is not above the
 * sender's gone mark for its slice. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "keyset.h"
#include "log.h"
#include "repl-internal.h"
#include "store.h"
#include "tiering.h"

#define SCAN_BATCH 64
#define DISK_BATCH 256 /* records of a disk tier per step (they are read, not locked) */

/* ---- walking memory in steps ---- */

/* The keys one scan step visited (a step may visit a few more than it was asked for: it
 * finishes a bucket), copied out, since the scan holds the shard's lock. */
struct scan_keys {
    uint32_t n, max;
    uint32_t *off, *len;
    uint8_t *buf;
    size_t used, cap;
    bool failed;
};

static void _collect(void *ctx, const uint8_t *key, uint32_t klen)
{
    struct scan_keys *s = ctx;
    if (s->n == s->max) {
        uint32_t max = s->max ? s->max * 2 : SCAN_BATCH * 2;
        uint32_t *off = realloc(s->off, max * sizeof(*off));
        if (off)
            s->off = off;
        uint32_t *len = off ? realloc(s->len, max * sizeof(*len)) : NULL;
        if (!len) {
            s->failed = true;
            return;
        }
        s->len = len;
        s->max = max;
    }
    if (s->used + klen > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->used + klen)
            cap *= 2;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) {
            s->failed = true;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->used, key, klen);
    s->off[s->n] = (uint32_t)s->used;
    s->len[s->n++] = klen;
    s->used += klen;
}

/* One scan step of namespace ns from *cursor into keys; false (cursor unchanged) when out
 * of memory: the same step again later. */
static bool _collect_step(struct scan_keys *keys, uint16_t ns, uint64_t *cursor)
{
    keys->n = 0;
    keys->used = 0;
    keys->failed = false;
    uint64_t next = store_scan(ns, *cursor, "", 0, SCAN_BATCH, _collect, keys);
    if (keys->failed)
        return false;
    *cursor = next;
    return true;
}

bool repl_walk_step(uint16_t *ns, uint64_t *cursor, repl_item_fn fn, void *arg)
{
    static struct scan_keys keys;
    if (*ns >= store_ns_count())
        return false;
    if (!_collect_step(&keys, *ns, cursor))
        return true; /* out of memory: the same step again later */
    for (uint32_t i = 0; i < keys.n; i++) {
        struct store_key k;
        struct item *it;
        store_key_init(&k, *ns, keys.buf + keys.off[i], keys.len[i]);
        if (store_peek(&k, &it) != STORE_OK)
            continue;
        fn(arg, &k, it);
        store_item_release(it);
    }
    if (*cursor == 0)
        (*ns)++;
    return *ns < store_ns_count();
}

/* ---- the sender ---- */

void repl_full_begin(struct peer *p, struct evbuffer *out)
{
    repl_full_cancel(p);
    p->fs_ns = 0;
    p->fs_cursor = 0;
    p->fs_disk_done = false;
    p->fs_waited = false;
    p->fs_waiting = false;
    /* its gone marks first: the receiver removes what is older than them and not sent */
    static uint64_t st_buf[REPL_GONE_CHUNK];
    static uint16_t or_buf[REPL_GONE_CHUNK];
    for (uint32_t first = 0; first < REPL_GONE_SLICES; first += REPL_GONE_CHUNK) {
        store_gone_marks(first, REPL_GONE_CHUNK, st_buf, or_buf);
        repl_send_gone(out, first, REPL_GONE_CHUNK, st_buf, or_buf);
    }
}

/* A stream waiting to go in parts: its key, and the version to send a delete at when it
 * cannot be read any more (another change replaced it meanwhile, which follows in the
 * backlog: the peer drops an older value, never keeps a stale one). */
struct fs_part {
    uint16_t ns;
    uint16_t origin;
    uint32_t klen;
    uint64_t version;
    uint8_t *key;
};

static void _parts_pop(struct peer *p)
{
    free(p->fs_parts[0].key);
    memmove(p->fs_parts, p->fs_parts + 1, (p->fs_nparts - 1) * sizeof(*p->fs_parts));
    p->fs_nparts--;
    p->fs_sending = false;
}

void repl_full_cancel(struct peer *p)
{
    tiering_scan_free(p->fs_disk);
    p->fs_disk = NULL;
    while (p->fs_nparts)
        _parts_pop(p);
    free(p->fs_parts);
    p->fs_parts = NULL;
    p->fs_partcap = 0;
}

/* Queue the stream at k to go in parts. False without memory. */
static bool _parts_push(struct peer *p, const struct store_key *k, uint64_t version,
                        uint16_t origin)
{
    if (p->fs_nparts == p->fs_partcap) {
        uint32_t cap = p->fs_partcap ? p->fs_partcap * 2 : 16;
        struct fs_part *np = realloc(p->fs_parts, cap * sizeof(*np));
        if (!np)
            return false;
        p->fs_parts = np;
        p->fs_partcap = cap;
    }
    uint8_t *key = malloc(k->len ? k->len : 1);
    if (!key)
        return false;
    memcpy(key, k->data, k->len);
    p->fs_parts[p->fs_nparts++] = (struct fs_part){.ns = k->ns, .origin = origin,
                                                   .klen = k->len, .version = version,
                                                   .key = key};
    return true;
}

/* A stream memory holds whole, up to this long, goes as one APPEND of all of it; in a full
 * sync a longer one (or one partly on disk) goes in parts of a chunk each, read one at a
 * time (from memory, or from the disk tier: never all of it at once); in an anti-entropy
 * round, as a delete at its version: the peer drops what it has. */
#define STREAM_COPY_MAX (1u << 20)

/* A stream, as an ITEM (or an AE_ITEM): true when it went as a copy, or when its chunks
 * failed their checksums (nothing goes: like a corrupt value, removed here). */
static bool _send_stream(struct evbuffer *out, const struct store_key *k, const char *nsname,
                         bool ae)
{
    struct store_stream_copy sc;
    if (store_stream_copy(k, STREAM_COPY_MAX, &sc,
                          ae ? "an anti-entropy round" : "a full sync") != STORE_OK)
        return sc.corrupt;
    struct repl_change c = {.op = REPL_OP_APPEND, .ns = (const uint8_t *)nsname,
                            .nslen = (uint32_t)strlen(nsname), .key = k->data, .klen = k->len,
                            .stamp = sc.version, .origin = sc.origin ? sc.origin : repl.node_id,
                            .type = STORE_T_STREAM, .value = sc.data, .vlen = (uint32_t)sc.len,
                            .expire_ms = sc.expire_ms, .s_epoch = sc.epoch,
                            .s_eorigin = sc.eorigin ? sc.eorigin : repl.node_id, .s_offset = 0};
    c.crc = store_value_crc(k->data, k->len, c.value, c.vlen, NULL, 0, STORE_T_STREAM);
    if (c.stamp)
        (ae ? repl_send_ae_item : repl_send_item)(out, &c);
    free(sc.data);
    return true;
}

static void _item_send(struct peer *p, struct evbuffer *out, const struct store_key *k,
                       const char *nsname, struct item *it, bool ae);

void repl_item_send(struct evbuffer *out, const struct store_key *k, const char *nsname,
                    struct item *it, bool ae)
{
    _item_send(NULL, out, k, nsname, it, ae);
}

void repl_full_item(struct peer *p, struct evbuffer *out, const struct store_key *k,
                    struct item *it)
{
    _item_send(p, out, k, store_ns_name(k->ns), it, false);
}

/* The next part of the first stream queued to go in parts. */
static void _part_step(struct peer *p, struct evbuffer *out)
{
    static uint8_t buf[STORE_STREAM_CHUNK];
    struct fs_part *f = &p->fs_parts[0];
    struct store_key k;
    store_key_init(&k, f->ns, f->key, f->klen);
    const char *nsname = store_ns_name(f->ns);
    struct repl_change c = {.op = REPL_OP_DEL, .ns = (const uint8_t *)nsname,
                            .nslen = (uint32_t)strlen(nsname), .key = k.data, .klen = k.len,
                            .stamp = f->version, .origin = f->origin ? f->origin : repl.node_id};
    if (!p->fs_sending) {
        /* a stream only a disk tier holds comes back to memory (its last chunk) first */
        if (store_stream_info(&k, &p->fs_si) != STORE_OK && tiering_enabled() &&
            tiering_stream_load(&k))
            (void)store_stream_info(&k, &p->fs_si);
        if (!p->fs_si.sid || !p->fs_si.version) {
            repl_send_item(out, &c); /* not a stream whose epoch is known any more */
            _parts_pop(p);
            return;
        }
        p->fs_sending = true;
        p->fs_off = 0;
    }
    const struct store_stream_info *si = &p->fs_si;
    uint32_t n = 0;
    uint64_t want = si->len - p->fs_off;
    enum store_status rc = store_stream_read(&k, si->sid, p->fs_off,
                                             want < sizeof(buf) ? (uint32_t)want : sizeof(buf),
                                             buf, &n);
    char err[160] = "";
    if (rc == STORE_ON_DISK)
        rc = tiering_stream_read(si->sid, p->fs_off, n, buf, err, sizeof(err)) == 0
                 ? STORE_OK
                 : STORE_NOT_FOUND;
    if (rc != STORE_OK || n == 0) {
        /* replaced or gone meanwhile (the change that did it follows in the backlog), or
         * unreadable: the peer drops what it has of it */
        if (err[0])
            log_warn("replication: peer %s: a stream could not be read for its full sync: %s",
                     p->name, err);
        c.stamp = si->version;
        c.origin = si->origin ? si->origin : repl.node_id;
        repl_send_item(out, &c);
        _parts_pop(p);
        return;
    }
    c = (struct repl_change){.op = REPL_OP_APPEND, .ns = c.ns, .nslen = c.nslen, .key = k.data,
                             .klen = k.len, .stamp = si->version,
                             .origin = si->origin ? si->origin : repl.node_id,
                             .type = STORE_T_STREAM, .value = buf, .vlen = n,
                             .expire_ms = si->expire_ms, .s_epoch = si->epoch,
                             .s_eorigin = si->eorigin ? si->eorigin : repl.node_id,
                             .s_offset = p->fs_off, .s_prev = si->len};
    c.crc = store_value_crc(k.data, k.len, buf, n, NULL, 0, STORE_T_STREAM);
    repl_send_item(out, &c);
    p->fs_off += n;
    if (p->fs_off == si->len)
        _parts_pop(p);
}

static void _item_send(struct peer *p, struct evbuffer *out, const struct store_key *k,
                       const char *nsname, struct item *it, bool ae)
{
    struct repl_change c = {.op = REPL_OP_SET, .ns = (const uint8_t *)nsname,
                            .nslen = (uint32_t)strlen(nsname), .key = k->data, .klen = k->len,
                            .stamp = store_item_version(it), .origin = store_item_origin(it),
                            .type = store_item_type(it), .expire_ms = store_item_expire_ms(it)};
    if (!c.origin)
        c.origin = repl.node_id;
    if (c.type == STORE_T_STREAM) {
        if (_send_stream(out, k, nsname, ae))
            return;
        if (p && c.stamp && _parts_push(p, k, c.stamp, c.origin))
            return; /* in parts, in the next steps */
        c.op = REPL_OP_DEL; /* not copied: the peer drops an older value */
        c.type = 0;
    } else {
        if (!store_item_verify(k, it, ae ? "an anti-entropy round" : "a full sync"))
            return; /* never sent: removed here, a miss */
        c.value = store_item_value(it, &c.vlen);
        if ((c.ctr = store_item_counter(it, &c.ctr_len)))
            c.op = REPL_OP_COUNTER;
        c.crc = store_item_crc(it);
    }
    if (c.stamp)
        (ae ? repl_send_ae_item : repl_send_item)(out, &c);
}

struct disk_send {
    struct peer *p;
    struct evbuffer *out;
};

/* A record of a disk tier, as an ITEM; memory's copy instead when memory holds the key
 * (loaded since the memory walk: the same or a newer version). The disk keeps no origin:
 * the item goes out as this node's. */
static void _send_disk_rec(void *arg, const struct tiering_scan_rec *r)
{
    struct disk_send *d = arg;
    const char *nsname = store_ns_name(r->key.ns);
    struct item *it;
    if (store_peek(&r->key, &it) == STORE_OK) {
        repl_full_item(d->p, d->out, &r->key, it);
        store_item_release(it);
    } else if (r->stream && r->version && _parts_push(d->p, &r->key, r->version, 0)) {
        /* in parts: read back from disk then, not under this walk's tier lock */
    } else if (r->version) {
        struct repl_change c = {.op = REPL_OP_SET, .ns = (const uint8_t *)nsname,
                                .nslen = (uint32_t)strlen(nsname), .key = r->key.data,
                                .klen = r->key.len, .stamp = r->version,
                                .origin = repl.node_id, .type = r->type, .value = r->value,
                                .vlen = (uint32_t)r->len, .expire_ms = r->expire_ms};
        if (r->ctr) {
            c.op = REPL_OP_COUNTER;
            c.ctr = r->ctr;
            c.ctr_len = r->ctr_len;
        }
        /* read back and checked against the disk's own checksum just now */
        c.crc = store_value_crc(c.key, c.klen, c.value, c.vlen, c.ctr, c.ctr_len, c.type);
        if (r->stream) { /* not copied yet: the peer drops an older value */
            c.op = REPL_OP_DEL;
            c.type = 0;
            c.value = NULL;
            c.vlen = 0;
        }
        repl_send_item(d->out, &c);
    }
    stat_incr(&d->p->st.sent);
}

/* A wait until the tiers' writer has written every job queued so far: then *done gets gen
 * and the link thread is woken. Between the walks of memory and of the disk tiers, the
 * sender of a full sync and the receiver's sweep both wait so: an item evicted before the
 * memory walk reached it is then on disk where the disk walk finds it, not on its way there
 * (where a walk could pass its place before it is written, and neither walk would see it). */
struct writer_wait {
    uint64_t *done;
    uint64_t gen;
};

/* The writer's thread (or the link thread, when nothing was queued). */
static void _writer_done(void *arg, bool ok, const char *err)
{
    (void)ok, (void)err;
    struct writer_wait *w = arg;
    __atomic_store_n(w->done, w->gen, __ATOMIC_RELEASE);
    free(w);
    repl_link_notify();
}

/* False without memory (no wait begun). */
static bool _wait_writer(uint64_t *done, uint64_t gen)
{
    struct writer_wait *w = malloc(sizeof(*w));
    if (!w)
        return false;
    *w = (struct writer_wait){done, gen};
    tiering_when_written(_writer_done, w);
    return true;
}

bool repl_full_waits(struct peer *p)
{
    if (p->fs_waiting &&
        __atomic_load_n(&p->fs_written, __ATOMIC_ACQUIRE) == p->fs_wait_gen)
        p->fs_waiting = false;
    return p->fs_waiting;
}

/* After memory: the disk tiers. False when they are done too. */
static bool _disk_step(struct peer *p, struct evbuffer *out)
{
    if (!tiering_enabled() || p->fs_disk_done)
        return false;
    if (!p->fs_waited) {
        p->fs_waited = true;
        p->fs_waiting = true;
        if (_wait_writer(&p->fs_written, ++p->fs_wait_gen))
            return true; /* repl_full_waits holds the link's sending until it is over */
        p->fs_waiting = false;
        log_warn("replication: peer %s: out of memory for waiting on the disk writer; items "
                 "evicted during the full sync's memory walk may be missed", p->name);
    }
    if (!p->fs_disk && !(p->fs_disk = tiering_scan_new(true))) {
        log_warn("replication: peer %s: out of memory for walking the disk tiers; the full "
                 "sync sends memory only", p->name);
        return false;
    }
    struct disk_send d = {p, out};
    if (tiering_scan_step(p->fs_disk, DISK_BATCH, _send_disk_rec, &d))
        return true;
    tiering_scan_free(p->fs_disk);
    p->fs_disk = NULL;
    p->fs_disk_done = true;
    return p->fs_nparts > 0; /* the streams its last step queued go next */
}

bool repl_full_step(struct peer *p, struct evbuffer *out)
{
    static struct scan_keys keys;
    if (p->fs_nparts) {
        _part_step(p, out);
        return true;
    }
    if (p->fs_ns >= store_ns_count())
        return _disk_step(p, out);
    if (!_collect_step(&keys, p->fs_ns, &p->fs_cursor))
        return true;
    for (uint32_t i = 0; i < keys.n; i++) {
        struct store_key k;
        struct item *it;
        store_key_init(&k, p->fs_ns, keys.buf + keys.off[i], keys.len[i]);
        if (store_peek(&k, &it) != STORE_OK)
            continue;
        repl_full_item(p, out, &k, it);
        store_item_release(it);
        stat_incr(&p->st.sent);
    }
    if (p->fs_cursor == 0)
        p->fs_ns++;
    return true;
}

/* ---- the receiver: a stream in parts ---- */

struct part_wait {
    struct peer *p;
    uint64_t gen;
};

void repl_stream_part_cancel(struct peer *p)
{
    store_stage_abort(p->rx_stage);
    p->rx_stage = NULL;
}

/* The writer's thread: the chunks a paused link waited for are written. */
static void _part_written(void *arg, bool ok, const char *err)
{
    (void)ok, (void)err;
    struct part_wait *w = arg;
    __atomic_store_n(&w->p->rx_written, w->gen, __ATOMIC_RELEASE);
    free(w);
    repl_link_notify();
}

/* More than the disk writer's share of stream chunks wait for it: read nothing more from
 * this link until it has written them (flow control: the sender's output fills and it
 * waits), so a copy never piles up in memory faster than the disk takes it. */
static void _part_pace(struct peer *p)
{
    if (!tiering_stream_ticket())
        return;
    struct part_wait *w = malloc(sizeof(*w));
    if (!w)
        return;
    *w = (struct part_wait){p, __atomic_add_fetch(&p->rx_pause_gen, 1, __ATOMIC_RELAXED)};
    p->rx_paused = true;
    tiering_when_written(_part_written, w);
}

void repl_stream_part_poke(struct peer *p, void (*resume)(struct peer *p))
{
    if (p->rx_paused && __atomic_load_n(&p->rx_written, __ATOMIC_ACQUIRE) ==
                            __atomic_load_n(&p->rx_pause_gen, __ATOMIC_RELAXED)) {
        p->rx_paused = false;
        resume(p);
    }
}

int repl_stream_part(struct peer *p, const struct store_key *k, const struct repl_change *ch)
{
    if (ch->s_offset == 0) {
        repl_stream_part_cancel(p); /* a copy not finished: the sender gave it up */
        struct store_remote_append ra = {
            .a = {.epoch = ch->s_epoch, .eorigin = ch->s_eorigin},
            .stamp = ch->stamp, .origin = ch->origin, .expire_ms = ch->expire_ms};
        if (!(p->rx_stage = store_stage_begin(k, &ra)))
            return STORE_ENOMEM;
    } else if (!p->rx_stage || !store_stage_is(p->rx_stage, k, ch->stamp, ch->origin) ||
               store_stage_len(p->rx_stage) != ch->s_offset) {
        return STORE_NOT_STORED; /* a part of a copy not begun here */
    }
    enum store_status rc = store_stage_add(p->rx_stage, ch->value, ch->vlen);
    if (rc != STORE_OK) {
        repl_stream_part_cancel(p);
        return rc;
    }
    if (store_stage_len(p->rx_stage) < ch->s_prev) {
        _part_pace(p);
        return -1;
    }
    rc = store_stage_commit(p->rx_stage);
    p->rx_stage = NULL;
    if (rc == STORE_OK)
        stat_incr(&p->st.streams_in_parts);
    return rc;
}

/* ---- the receiver: after a full sync, what the peer did not send goes ---- */

/* A full sync is authoritative for what is older than it: an item here older than the
 * sync's start that the peer did not send was deleted, expired or evicted there, or never
 * reached it; either way it may be stale, so it goes (a miss here, never a stale value).
 * Removes deletes that happened while this node was away beyond the backlog this way. Runs
 * in steps of SCAN_BATCH keys of memory, then DISK_BATCH records of the disk tiers, between
 * the link thread's other events. */
void repl_sweep_cancel(struct peer *p)
{
    if (p->sweep)
        event_del(p->sweep);
    keyset_free(p->synced);
    p->synced = NULL;
    free(p->gone_s);
    free(p->gone_o);
    p->gone_s = NULL;
    p->gone_o = NULL;
    tiering_scan_free(p->sweep_disk);
    p->sweep_disk = NULL;
    __atomic_add_fetch(&p->sweep_gen, 1, __ATOMIC_RELAXED); /* a pending wait is void */
}

void repl_sweep_begin(struct peer *p)
{
    p->sweep_ns = 0;
    p->sweep_cursor = 0;
    p->sweep_dropped = 0;
    p->sweep_stage = SWEEP_MEMORY;
    __atomic_add_fetch(&p->sweep_gen, 1, __ATOMIC_RELAXED);
    tiering_scan_free(p->sweep_disk);
    p->sweep_disk = NULL;
    event_active(p->sweep, EV_TIMEOUT, 0);
}

void repl_sweep_poke(struct peer *p)
{
    if (p->synced && p->sweep_stage == SWEEP_WAIT &&
        __atomic_load_n(&p->sweep_written, __ATOMIC_ACQUIRE) ==
            __atomic_load_n(&p->sweep_gen, __ATOMIC_RELAXED)) {
        p->sweep_stage = SWEEP_DISK;
        event_active(p->sweep, EV_TIMEOUT, 0);
    }
}

_Static_assert(REPL_GONE_SLICES == 1u << STORE_GONE_BITS, "one gone mark per slice");

static inline uint32_t _slice(uint64_t hash) { return (uint32_t)(hash >> (64 - STORE_GONE_BITS)); }

static void _sweep_disk_rec(void *arg, const struct tiering_scan_rec *r)
{
    struct peer *p = arg;
    uint32_t slice = _slice(r->key.hash);
    if (!keyset_has(p->synced, r->key.hash) &&
        tiering_drop_older(r, p->sync_stamp, p->gone_s[slice], p->gone_o[slice])) {
        stat_incr(&p->st.sync_dropped);
        p->sweep_dropped++;
    }
}

static struct scan_keys sweep_keys;

void repl_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct peer *p = arg;
    if (!p->synced)
        return;
    if (keyset_failed(p->synced) || !p->gone_s) {
        repl_sweep_cancel(p);
        return;
    }
    if (p->sweep_ns < store_ns_count()) {
        if (_collect_step(&sweep_keys, p->sweep_ns, &p->sweep_cursor)) {
            for (uint32_t i = 0; i < sweep_keys.n; i++) {
                struct store_key k;
                store_key_init(&k, p->sweep_ns, sweep_keys.buf + sweep_keys.off[i],
                               sweep_keys.len[i]);
                uint32_t slice = _slice(k.hash);
                if (!keyset_has(p->synced, k.hash) &&
                    store_drop_older(&k, p->sync_stamp, p->gone_s[slice], p->gone_o[slice])) {
                    stat_incr(&p->st.sync_dropped);
                    p->sweep_dropped++;
                }
            }
            if (p->sweep_cursor == 0)
                p->sweep_ns++;
        }
        event_active(p->sweep, EV_TIMEOUT, 0);
        return;
    }
    if (tiering_enabled() && p->sweep_stage == SWEEP_MEMORY) {
        /* the writer first (_wait_writer) */
        p->sweep_stage = SWEEP_WAIT;
        if (_wait_writer(&p->sweep_written, __atomic_load_n(&p->sweep_gen, __ATOMIC_RELAXED)))
            return;
        p->sweep_stage = SWEEP_MEMORY;
        log_warn("replication: peer %s: out of memory for the sweep of the disk tiers; after "
                 "its full sync only memory was checked", p->name);
    } else if (p->sweep_stage == SWEEP_WAIT) {
        return; /* repl_sweep_poke goes on */
    } else if (tiering_enabled()) {
        if (!p->sweep_disk && !(p->sweep_disk = tiering_scan_new(false))) {
            log_warn("replication: peer %s: out of memory for walking the disk tiers; after "
                     "its full sync only memory was checked", p->name);
        } else if (tiering_scan_step(p->sweep_disk, DISK_BATCH, _sweep_disk_rec, p)) {
            event_active(p->sweep, EV_TIMEOUT, 0);
            return;
        }
    }
    log_info("replication: peer %s: after its full sync, %llu items it did not have are "
             "removed here (repl.%s.sync_dropped)", p->name,
             (unsigned long long)p->sweep_dropped, p->name);
    repl_sweep_cancel(p);
}
