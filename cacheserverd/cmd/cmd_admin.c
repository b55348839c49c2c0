/* Handlers for connection and server administration: PING, HELLO, NAMESPACE, FLUSH, STATS,
 * INFO, CONFIG GET and CONFIG SET, and SHM_REPORT (the counts of clients' shared-memory
 * reads). */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd-internal.h"
#include "fence.h"
#include "repl.h"
#include "tiering.h"
#include "histogram.h"
#include "stats.h"

#include "version.h"

#define SERVER_VERSION CACHESERVERD_VERSION

void cmd_ping(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    reply_begin(r, q->id, CC_OK, 0);
}

/* Select a namespace by name for the session. Writes an error reply and returns false on failure. */
static bool _select_ns(struct session *s, struct req *q, struct reply *r, const uint8_t *name,
                       uint32_t len)
{
    if (len > CC_MAX_NS_LEN) {
        reply_error(r, q->id, CC_E_BAD_ARGS, "namespace longer than %d bytes", CC_MAX_NS_LEN);
        return false;
    }
    uint16_t id;
    if (store_ns_id(name, len, &id) != STORE_OK) {
        cmd_reply_store_status(q, r, STORE_ELIMIT);
        return false;
    }
    s->ns = id;
    return true;
}

static void _pack_kv_str(struct reply *r, const char *k, const char *v)
{
    reply_str(r, k, strlen(k));
    reply_str(r, v, strlen(v));
}

static void _pack_kv_uint(struct reply *r, const char *k, uint64_t v)
{
    reply_str(r, k, strlen(k));
    msgpack_pack_uint64(&r->pk, v);
}

void cmd_hello(struct session *s, struct req *q, struct reply *r)
{
    uint64_t version;
    uint32_t nopts = 0;
    if (!mp_read_uint(&q->args, &version) || (q->argc == 2 && !mp_read_map(&q->args, &nopts))) {
        cmd_bad_usage(q, r);
        return;
    }
    if (version != CC_PROTOCOL_VERSION) {
        reply_error(r, q->id, CC_E_VERSION, "protocol version %llu not supported (this server: %d)",
                    (unsigned long long)version, CC_PROTOCOL_VERSION);
        return;
    }
    bool shm = false; /* the option shm: "r" was given */
    for (uint32_t i = 0; i < nopts; i++) {
        const uint8_t *k, *v;
        uint32_t kl, vl;
        if (!mp_read_bytes(&q->args, &k, &kl) || !mp_read_bytes(&q->args, &v, &vl)) {
            cmd_bad_args(q, r, "HELLO options are str keys with str values");
            return;
        }
        if (kl == 9 && memcmp(k, "namespace", 9) == 0) {
            if (!_select_ns(s, q, r, v, vl))
                return;
        } else if (kl == 6 && memcmp(k, "client", 6) == 0) {
            size_t n = vl < sizeof(s->client) - 1 ? vl : sizeof(s->client) - 1;
            memcpy(s->client, v, n);
            s->client[n] = '\0';
        } else if (kl == 3 && memcmp(k, "shm", 3) == 0) {
            if (vl != 1 || v[0] != 'r') {
                reply_error(r, q->id, CC_E_BAD_ARGS,
                            "HELLO option shm takes \"r\" (read the shared-memory region), "
                            "not '%.*s'", (int)vl, v);
                return;
            }
            shm = true;
        } else {
            reply_error(r, q->id, CC_E_BAD_ARGS, "unknown HELLO option '%.*s'", (int)kl, k);
            return;
        }
    }
    /* shm: the region's read-only fd goes with this reply's first byte (docs/shm-reads.md,
     * "Handing the region to clients"); the reply is written after this handler returns */
    bool shm_sent = false;
    if (shm) {
        int fd = store_shm_client_fd();
        if (fd >= 0 && core_out_attach_fd(q->out, fd)) {
            store_shm_fd_sent();
            shm_sent = true;
        }
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_map(&r->pk, shm ? 8 : 7);
    _pack_kv_uint(r, "version", CC_PROTOCOL_VERSION);
    _pack_kv_str(r, "server", "cacheserverd " SERVER_VERSION);
    _pack_kv_uint(r, "max_key_size", option_get_u(&cmd_opts.max_key_size));
    _pack_kv_uint(r, "max_value_size", option_get_u(&cmd_opts.max_value_size));
    struct option_desc *mf = option_registry_find("max_frame_size");
    _pack_kv_uint(r, "max_frame_size", mf ? option_get_u(mf->value) : 0);
    _pack_kv_uint(r, "max_request_keys", option_get_u(&cmd_opts.max_request_keys));
    _pack_kv_str(r, "namespace", store_ns_name(s->ns));
    if (shm) {
        reply_str(r, "shm", 3);
        if (shm_sent)
            msgpack_pack_true(&r->pk);
        else
            msgpack_pack_false(&r->pk);
    }
}

void cmd_namespace(struct session *s, struct req *q, struct reply *r)
{
    const uint8_t *name;
    uint32_t len;
    if (!mp_read_bytes(&q->args, &name, &len)) {
        cmd_bad_usage(q, r);
        return;
    }
    if (_select_ns(s, q, r, name, len))
        reply_begin(r, q->id, CC_OK, 0);
}

/* SHM_REPORT region_id hits bad (docs/shm-reads.md, "Stats"; docs/protocol.md): a client's
 * region hits per namespace id, and the key hashes whose region entry failed its checksum.
 * The whole request is read and checked before anything is counted: E_BAD_ARGS counts
 * nothing. A report for another run's region (or while there is none) is answered OK and
 * counted only as stale: its namespace ids may mean other namespaces in this run. */
void cmd_shm_report(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    uint64_t region, bad[CC_SHM_REPORT_MAX_BAD];
    uint32_t nhits, nbad;
    if (!mp_read_uint(&q->args, &region) || !mp_read_map(&q->args, &nhits)) {
        cmd_bad_usage(q, r);
        return;
    }
    if (nhits > CC_SHM_REPORT_MAX_NS) {
        reply_error(r, q->id, CC_E_BAD_ARGS,
                    "SHM_REPORT: %u namespaces in hits, at most %d", (unsigned)nhits,
                    CC_SHM_REPORT_MAX_NS);
        return;
    }
    bool current = region != 0 && region == store_shm_region_id();
    uint16_t nns = store_ns_count();
    struct mp_cursor hits = q->args; /* read again below, to count */
    for (uint32_t i = 0; i < nhits; i++) {
        uint64_t ns, n;
        if (!mp_read_uint(&q->args, &ns) || !mp_read_uint(&q->args, &n)) {
            cmd_bad_usage(q, r);
            return;
        }
        if (current && ns >= nns) {
            reply_error(r, q->id, CC_E_BAD_ARGS,
                        "SHM_REPORT: namespace id %llu does not exist (this server has %u)",
                        (unsigned long long)ns, (unsigned)nns);
            return;
        }
    }
    if (!mp_read_array(&q->args, &nbad)) {
        cmd_bad_usage(q, r);
        return;
    }
    if (nbad > CC_SHM_REPORT_MAX_BAD) {
        reply_error(r, q->id, CC_E_BAD_ARGS, "SHM_REPORT: %u key hashes in bad, at most %d",
                    (unsigned)nbad, CC_SHM_REPORT_MAX_BAD);
        return;
    }
    for (uint32_t i = 0; i < nbad; i++)
        if (!mp_read_uint(&q->args, &bad[i])) {
            cmd_bad_usage(q, r);
            return;
        }
    if (!current) {
        store_shm_report_stale();
        reply_begin(r, q->id, CC_OK, 0);
        return;
    }
    uint64_t sum = 0;
    for (uint32_t i = 0; i < nhits; i++) {
        uint64_t ns, n;
        mp_read_uint(&hits, &ns);
        mp_read_uint(&hits, &n);
        store_ns_add_hits((uint16_t)ns, n);
        sum += n;
    }
    store_shm_report_counted(sum);
    for (uint32_t i = 0; i < nbad; i++)
        store_shm_check_reported(bad[i]);
    reply_begin(r, q->id, CC_OK, 0);
}

void cmd_flush(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    const uint8_t *name;
    uint32_t len;
    int ns = -1;
    if (!mp_read_nil(&q->args)) {
        if (!mp_read_bytes(&q->args, &name, &len)) {
            cmd_bad_usage(q, r);
            return;
        }
        uint16_t id;
        if (len > CC_MAX_NS_LEN || store_ns_id(name, len, &id) != STORE_OK) {
            reply_begin(r, q->id, CC_OK, 1); /* a namespace that cannot exist holds nothing */
            msgpack_pack_uint64(&r->pk, 0);
            return;
        }
        ns = id;
    }
    uint64_t removed;
    store_flush(ns, &removed);
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint64(&r->pk, removed);
}

/* ---- STATS: a flat map, built in a side buffer because its size is known only at the end ---- */

struct kvbuf {
    struct rbuf rb; /* rb.failed: out of memory, the map is incomplete */
    uint32_t n;
};

static void _kv_init(struct kvbuf *b)
{
    rbuf_init(&b->rb);
    b->n = 0;
}

static void _kv_key(struct kvbuf *b, const char *k)
{
    size_t len = strlen(k);
    msgpack_pack_str(&b->rb.pk, len);
    msgpack_pack_str_body(&b->rb.pk, k, len);
    b->n++;
}

static void _kv_u(struct kvbuf *b, const char *k, uint64_t v)
{
    _kv_key(b, k);
    msgpack_pack_uint64(&b->rb.pk, v);
}

static void _kv_s(struct kvbuf *b, const char *k, const char *v)
{
    _kv_key(b, k);
    size_t len = strlen(v);
    msgpack_pack_str(&b->rb.pk, len);
    msgpack_pack_str_body(&b->rb.pk, v, len);
}

static void _kv_f(struct kvbuf *b, const char *k, double v)
{
    _kv_key(b, k);
    msgpack_pack_double(&b->rb.pk, v);
}

/* Moves the map into the reply as its one result (E_NOMEM when building it failed). */
static void _kv_reply(struct kvbuf *b, struct req *q, struct reply *r)
{
    if (b->rb.failed) {
        rbuf_destroy(&b->rb);
        reply_error(r, q->id, CC_E_NOMEM, "out of memory building the reply");
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_map(&r->pk, b->n);
    reply_write_rbuf(r, &b->rb);
}

static void _stat_one(void *arg, const struct stat_desc *d, uint64_t value)
{
    _kv_u(arg, d->name, value);
}

static double _ratio(uint64_t hits, uint64_t misses)
{
    return hits + misses ? (double)hits / (double)(hits + misses) : 0.0;
}

/* prefix.count, .p50_us, .p99_us, .p999_us, .max_us, .sum_us of a histogram (nothing when
 * empty). */
static void _kv_hist(struct kvbuf *b, const char *prefix, const struct histogram *h)
{
    uint64_t count = h ? __atomic_load_n(&h->count, __ATOMIC_RELAXED) : 0;
    if (count == 0)
        return;
    static const struct {
        const char *suffix;
        double p;
    } pct[] = {{"p50_us", 50}, {"p99_us", 99}, {"p999_us", 99.9}};
    char name[160];
    snprintf(name, sizeof(name), "%s.count", prefix);
    _kv_u(b, name, count);
    for (size_t j = 0; j < sizeof(pct) / sizeof(pct[0]); j++) {
        snprintf(name, sizeof(name), "%s.%s", prefix, pct[j].suffix);
        _kv_u(b, name, hist_percentile(h, pct[j].p));
    }
    snprintf(name, sizeof(name), "%s.max_us", prefix);
    _kv_u(b, name, __atomic_load_n(&h->max, __ATOMIC_RELAXED));
    snprintf(name, sizeof(name), "%s.sum_us", prefix);
    _kv_u(b, name, __atomic_load_n(&h->sum, __ATOMIC_RELAXED));
}

/* The STATS map's entries (STATS and metrics-listen). */
static void _stats_build(struct kvbuf *b)
{
    stats_foreach(_stat_one, b);
    uint64_t hits = 0, misses = 0;
    char name[128];
    uint16_t nns = store_ns_count();
    for (uint16_t i = 0; i < nns; i++) {
        struct store_ns_stats ns;
        store_ns_stats(i, &ns);
        const char *nm = i == 0 ? "default" : store_ns_name(i);
        hits += ns.hits;
        misses += ns.misses;
        snprintf(name, sizeof(name), "ns.%s.hits", nm);
        _kv_u(b, name, ns.hits);
        snprintf(name, sizeof(name), "ns.%s.misses", nm);
        _kv_u(b, name, ns.misses);
        snprintf(name, sizeof(name), "ns.%s.hit_rate", nm);
        _kv_f(b, name, _ratio(ns.hits, ns.misses));
        snprintf(name, sizeof(name), "ns.%s.items", nm);
        _kv_u(b, name, ns.items);
        snprintf(name, sizeof(name), "ns.%s.bytes", nm);
        _kv_u(b, name, ns.bytes);
    }
    _kv_f(b, "hit_rate", _ratio(hits, misses));
    _kv_u(b, "memory_limit", store_memory_limit());
    _kv_u(b, "uptime_s", (uint64_t)time(NULL) - cmd_start_time());
    for (int op = 0; op < CC_OP__COUNT; op++) {
        char lower[32];
        const char *on = cc_op_name(op);
        if (!strcmp(on, "UNKNOWN"))
            continue; /* a number the table leaves free */
        size_t i = 0;
        for (; on[i] && i < sizeof(lower) - 1; i++)
            lower[i] = (char)(on[i] >= 'A' && on[i] <= 'Z' ? on[i] + 32 : on[i]);
        lower[i] = '\0';
        snprintf(name, sizeof(name), "op.%s", lower);
        _kv_hist(b, name, cmd_op_histogram(op));
    }
    struct tiering_tier_info t;
    for (int i = 0; tiering_tier_info(i, &t); i++) {
        snprintf(name, sizeof(name), "disk_read.%s", t.name);
        _kv_hist(b, name, tiering_read_histogram(i));
    }
}

void cmd_stats_map(msgpack_sbuffer *out)
{
    struct kvbuf b;
    _kv_init(&b);
    _stats_build(&b);
    msgpack_sbuffer_init(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    if (b.rb.failed) { /* out of memory: an empty map rather than a broken one */
        msgpack_pack_map(&pk, 0);
    } else {
        msgpack_pack_map(&pk, b.n);
        msgpack_sbuffer_write(out, b.rb.buf.data ? b.rb.buf.data : "", b.rb.buf.size);
    }
    rbuf_destroy(&b.rb);
}

void cmd_stats(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    struct kvbuf b;
    _kv_init(&b);
    _stats_build(&b);
    _kv_reply(&b, q, r);
}

void cmd_info(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    struct kvbuf b;
    _kv_init(&b);
    _kv_s(&b, "server", "cacheserverd");
    _kv_s(&b, "version", SERVER_VERSION);
    _kv_u(&b, "protocol_version", CC_PROTOCOL_VERSION);
    _kv_u(&b, "pid", (uint64_t)getpid());
    _kv_u(&b, "uptime_s", (uint64_t)time(NULL) - cmd_start_time());
    static const char *const shown[] = {"socket", "data_dir", "threads", "max_connections",
                                        "memory", "max_key_size", "max_value_size",
                                        "max_frame_size", "max_request_keys"};
    char val[256];
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        struct option_desc *d = option_registry_find(shown[i]);
        if (!d)
            continue;
        if (!strcmp(shown[i], "threads") && cmd_worker_threads()) {
            _kv_u(&b, "threads", cmd_worker_threads()); /* the running count, not "0" */
        } else if (d->type == OPT_UINT || d->type == OPT_SIZE) {
            _kv_u(&b, shown[i], option_get_u(d->value)); /* numbers as numbers */
        } else {
            option_format(d, val, sizeof(val));
            _kv_s(&b, shown[i], val);
        }
    }
    char why[256];
    fence_reason(why, sizeof(why));
    _kv_u(&b, "fenced", fence_active());
    _kv_s(&b, "fence_reason", why);
    _kv_u(&b, "bytes_used", store_bytes_used());
    _kv_u(&b, "item_overhead_bytes", store_item_overhead());
    _kv_u(&b, "namespaces", store_ns_count());
    struct option_desc *shm = option_registry_find("shm_reads");
    _kv_key(&b, "shm_reads");
    if (shm && option_get_b(shm->value))
        msgpack_pack_true(&b.rb.pk);
    else
        msgpack_pack_false(&b.rb.pk);
    _kv_u(&b, "shm_read_size", store_shm_size());
    _kv_s(&b, "eviction", "SIEVE");
    _kv_s(&b, "tiers", tiering_tiers());
    _kv_s(&b, "tier.memory.health", "ok");
    _kv_s(&b, "persist", tiering_persist_mode());
    struct tiering_tier_info t;
    for (int i = 0; tiering_tier_info(i, &t); i++) {
        char name[64];
#define TIER_KEY(field) (snprintf(name, sizeof(name), "tier.%s." field, t.name), name)
        _kv_s(&b, TIER_KEY("path"), t.path);
        _kv_u(&b, TIER_KEY("size"), t.size);
        _kv_u(&b, TIER_KEY("used"), t.used);
        _kv_u(&b, TIER_KEY("disk_bytes"), t.disk);
        _kv_u(&b, TIER_KEY("items"), t.items);
        _kv_s(&b, TIER_KEY("health"), t.health);
#undef TIER_KEY
    }
    _kv_reply(&b, q, r);
}

/* CLUSTER_STATUS: a flat map like INFO's. "enabled" 0 and nothing else without peers. */
void cmd_cluster_status(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    struct repl_status *st = malloc(sizeof(*st));
    if (!st) {
        reply_error(r, q->id, CC_E_NOMEM, "out of memory");
        return;
    }
    repl_status(st);
    struct kvbuf b;
    _kv_init(&b);
    _kv_u(&b, "enabled", st->enabled);
    char why[256];
    fence_reason(why, sizeof(why));
    _kv_u(&b, "fenced", fence_active());
    _kv_s(&b, "fence_reason", why);
    if (st->enabled) {
        _kv_u(&b, "node_id", st->node_id);
        _kv_s(&b, "node_name", st->name);
        _kv_s(&b, "fingerprint", st->fp);
        _kv_u(&b, "cert_expiry", st->cert_expiry > 0 ? (uint64_t)st->cert_expiry : 0);
        _kv_u(&b, "peers", (uint64_t)st->npeers);
        _kv_u(&b, "membership_epoch", st->membership_epoch);
    }
    char k[256];
    for (int i = 0; i < st->npeers; i++) {
        const struct repl_peer_status *p = &st->peers[i];
#define PK(field) (snprintf(k, sizeof(k), "peer.%s." field, p->name), k)
        _kv_s(&b, PK("addr"), p->addr);
        _kv_s(&b, PK("fingerprint"), p->fp);
        _kv_u(&b, PK("node_id"), p->node_id);
        _kv_s(&b, PK("link"), p->link);
        _kv_s(&b, PK("in"), p->in_up ? "up" : "down");
        _kv_u(&b, PK("revoked"), p->revoked);
        _kv_u(&b, PK("removed"), p->removed);
        _kv_u(&b, PK("cert_expiry"), p->cert_expiry);
        _kv_u(&b, PK("lag_records"), p->lag_records);
        _kv_u(&b, PK("lag_bytes"), p->lag_bytes);
        _kv_u(&b, PK("lag_ms"), p->lag_ms);
        _kv_u(&b, PK("partial_resyncs"), p->partial_resyncs);
        _kv_u(&b, PK("full_syncs"), p->full_syncs);
        _kv_u(&b, PK("applied"), p->applied);
        _kv_u(&b, PK("dropped_older"), p->dropped_older);
        _kv_u(&b, PK("clock_rejected"), p->clock_rejected);
        _kv_s(&b, PK("last_error"), p->last_error);
        if (p->view_age_ms >= 0) {
            _kv_u(&b, PK("view_age_ms"), (uint64_t)p->view_age_ms);
            _kv_s(&b, PK("view_fingerprint"), p->view_fp);
            _kv_u(&b, PK("view_membership_epoch"), p->view_epoch);
        }
#undef PK
        for (uint32_t j = 0; j < p->nview; j++) {
            const struct repl_view_status *v = &p->view[j];
            snprintf(k, sizeof(k), "peer.%s.view.%s.fingerprint", p->name, v->name);
            _kv_s(&b, k, v->fp);
            snprintf(k, sizeof(k), "peer.%s.view.%s.link", p->name, v->name);
            _kv_s(&b, k, v->out_up ? "up" : "down");
            snprintf(k, sizeof(k), "peer.%s.view.%s.in", p->name, v->name);
            _kv_s(&b, k, v->in_up ? "up" : "down");
        }
    }
    free(st);
    _kv_reply(&b, q, r);
}

void cmd_cluster_unfence(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    bool was = fence_clear("an operator (CLUSTER_UNFENCE)");
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint8(&r->pk, was);
}

/* CLUSTER_REVOKE, _READMIT, _REMOVE, _ADD: an operator's request for a membership change
 * (members.c). Its n string arguments (1..128 bytes each) into args; false when the request
 * was answered (bad arguments, no replication, fenced). */
#define ASK_ARG_MAX 128
static bool _cluster_args(struct req *q, struct reply *r, char (*args)[ASK_ARG_MAX + 1], int n)
{
    for (int i = 0; i < n; i++) {
        const uint8_t *v;
        uint32_t len;
        if (!mp_read_bytes(&q->args, &v, &len) || len == 0 || len > ASK_ARG_MAX ||
            memchr(v, 0, len)) {
            cmd_bad_usage(q, r);
            return false;
        }
        memcpy(args[i], v, len);
        args[i][len] = '\0';
    }
    if (!repl_enabled()) {
        reply_error(r, q->id, CC_E_BAD_ARGS, "replication is off on this node: no peers");
        return false;
    }
    if (fence_active()) {
        reply_error(r, q->id, CC_E_FENCED, "a fenced node takes part in no vote");
        return false;
    }
    return true;
}

/* The request's outcome: msg says what happens next, or (rc != 0) why it was refused. */
static void _cluster_answer(struct req *q, struct reply *r, int rc, const char *msg)
{
    if (rc != 0) {
        reply_error(r, q->id, CC_E_BAD_ARGS, "%s", msg);
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    size_t ml = strlen(msg);
    msgpack_pack_str(&r->pk, ml);
    msgpack_pack_str_body(&r->pk, msg, ml);
}

/* A change naming one member (revoke, readmit, remove). */
static void _cluster_ask(struct req *q, struct reply *r,
                         int (*ask)(const char *name, char *msg, size_t mlen))
{
    char a[1][ASK_ARG_MAX + 1], msg[600];
    if (_cluster_args(q, r, a, 1))
        _cluster_answer(q, r, ask(a[0], msg, sizeof(msg)), msg);
}

void cmd_cluster_revoke(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    _cluster_ask(q, r, repl_members_revoke);
}

void cmd_cluster_readmit(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    _cluster_ask(q, r, repl_members_readmit);
}

void cmd_cluster_remove(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    _cluster_ask(q, r, repl_members_remove);
}

void cmd_cluster_add(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    char a[3][ASK_ARG_MAX + 1], msg[600];
    if (_cluster_args(q, r, a, 3))
        _cluster_answer(q, r, repl_members_add(a[0], a[1], a[2], msg, sizeof(msg)), msg);
}

void cmd_cluster_rotate_cert(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    if (!repl_enabled()) {
        reply_error(r, q->id, CC_E_BAD_ARGS, "replication is off on this node: no peers");
        return;
    }
    if (fence_active()) {
        reply_error(r, q->id, CC_E_FENCED, "a fenced node proposes no change");
        return;
    }
    char msg[600];
    if (repl_members_rotate(msg, sizeof(msg)) != 0) {
        reply_error(r, q->id, CC_E_INTERNAL, "%s", msg);
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    size_t ml = strlen(msg);
    msgpack_pack_str(&r->pk, ml);
    msgpack_pack_str_body(&r->pk, msg, ml);
}

struct config_walk {
    struct kvbuf *b;
    const char *pattern;
};

static void _config_one(void *arg, const char *module, struct option_desc *d)
{
    (void)module;
    struct config_walk *w = arg;
    if (fnmatch(w->pattern, d->name, 0) != 0)
        return;
    char val[512];
    option_format(d, val, sizeof(val));
    _kv_s(w->b, d->name, val);
}

void cmd_config_get(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    const uint8_t *p;
    uint32_t plen = 1;
    char pattern[128] = "*";
    if ((q->argc == 1 && !mp_read_bytes(&q->args, &p, &plen)) || plen >= sizeof(pattern)) {
        cmd_bad_usage(q, r);
        return;
    }
    if (q->argc == 1) {
        memcpy(pattern, p, plen);
        pattern[plen] = '\0';
        for (char *c = pattern; *c; c++)
            if (*c == '-')
                *c = '_';
    }
    struct kvbuf b;
    _kv_init(&b);
    struct config_walk w = {&b, pattern};
    option_registry_foreach(_config_one, &w);
    _kv_reply(&b, q, r);
}

void cmd_config_set(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    const uint8_t *n, *v;
    uint32_t nl, vl;
    if (!mp_read_bytes(&q->args, &n, &nl) || !mp_read_bytes(&q->args, &v, &vl) || nl >= 128 ||
        vl >= 1024) {
        cmd_bad_usage(q, r);
        return;
    }
    char name[128], value[1024], err[256];
    memcpy(name, n, nl);
    name[nl] = '\0';
    memcpy(value, v, vl);
    value[vl] = '\0';
    if (option_registry_set(name, value, true, err, sizeof(err)) != 0) {
        reply_error(r, q->id, CC_E_CONFIG, "%s", err);
        return;
    }
    reply_begin(r, q->id, CC_OK, 0);
}
