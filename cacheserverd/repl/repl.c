/* Replication's setup: options, the peer list, the identity and TLS contexts, per-peer stats,
 * and the mutation subscriber that puts this node's own changes in the backlog. The links
 * themselves are link.c's. */
#include "repl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "repl-internal.h"
#include "store.h"

OPTION_STRUCT(repl, REPL_OPTIONS);
static struct repl_options opts;
static struct option_desc opt_desc[] = OPTION_DESCRIBE(REPL_OPTIONS);

struct repl repl = {.status_lock = PTHREAD_MUTEX_INITIALIZER};
static bool enabled;
static char state_path[4200];

/* Does the data survive a restart (so a position in a peer's backlog is still worth it)? */
static bool _data_persists(void)
{
    const char *p = option_registry_str("persist");
    return *p && strcmp(p, "off") != 0;
}

void repl_options_register(void)
{
    option_bind(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), &opts);
    option_registry_add("replication", opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]));
    /* docs/config.md lists the same ranges */
    static const struct option_range ranges[] = {
        {"node_id", 0, 65535, false}, /* 0 = not in a cluster (1.. required with peers) */
        {"max_clock_offset", 1, 3600000, false},
        {"repl_backlog_size", 64ull << 10, 64ull << 30, false},
        {"repl_test_clock_skew_ms", 0, 86400000, false},
        {"anti_entropy_interval", 1, 86400, true}, /* 0 = none */
    };
    option_registry_ranges("replication", ranges, sizeof(ranges) / sizeof(ranges[0]));
}

bool repl_enabled(void) { return enabled; }

static void _errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void _errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int repl_parse_addr(const char *text, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    uint64_t port;
    if (!colon || (size_t)(colon - text) >= sizeof(host) || colon == text ||
        option_parse_uint(colon + 1, &port) != 0 || port == 0 || port > 65535)
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

/* "NAME HOST:PORT FINGERPRINT" */
static int _parse_peer(const char *text, struct peer *p, char *err, size_t errlen)
{
    char name[128], addr[128], fp[160];
    int used = 0;
    if (sscanf(text, "%127s %127s %159s %n", name, addr, fp, &used) != 3 || text[used]) {
        _errf(err, errlen, "peer '%s': expected NAME HOST:PORT FINGERPRINT", text);
        return -1;
    }
    if (strlen(name) > REPL_NAME_MAX || strchr(name, '.')) {
        _errf(err, errlen, "peer '%s': a name is 1..%d characters without '.'", text,
              REPL_NAME_MAX);
        return -1;
    }
    if (repl_parse_addr(addr, &p->addr) != 0) {
        _errf(err, errlen, "peer '%s': '%s' is not an IPv4 HOST:PORT", text, addr);
        return -1;
    }
    if (repl_fingerprint_parse(fp, p->fp) != 0) {
        _errf(err, errlen, "peer '%s': '%s' is not a SHA-256 fingerprint (64 hex characters, "
              "as cacheserverd --gen-identity prints it)", text, fp);
        return -1;
    }
    strcpy(p->name, name);
    snprintf(p->addr_text, sizeof(p->addr_text), "%s", addr);
    repl_fingerprint_format(p->fp, p->fp_hex);
    return 0;
}

static void _register_peer_stats(struct peer *p)
{
    static const struct stat_desc proto[] = STAT_DESCRIBE(PEER_STATS);
    size_t n = STAT_COUNT(proto);
    _Static_assert(STAT_COUNT(proto) <= sizeof(p->st_desc) / sizeof(p->st_desc[0]),
                   "room for every per-peer stat");
    for (size_t i = 0; i < n; i++) {
        snprintf(p->st_names[i], sizeof(p->st_names[i]), "repl.%s.%s", p->name, proto[i].name);
        p->st_desc[i] = proto[i];
        p->st_desc[i].name = p->st_names[i];
    }
    stats_register(p->st_desc, n, &p->st);
}

/* A peer as a membership change adds it (members.c, on the link thread; or at start,
 * replaying the changes): set up, its stats registered, unpinned and not dialed until
 * repl_link_peer_added. NULL with err when there is no room or it clashes. */
struct peer *repl_peer_add(const char *name, const char *addr, const uint8_t *fp, char *err,
                           size_t errlen)
{
    if (repl.npeers == REPL_MAX_PEERS) {
        _errf(err, errlen, "at most %d peers", REPL_MAX_PEERS);
        return NULL;
    }
    char entry[512], hex[REPL_FP_HEX_SIZE];
    repl_fingerprint_format(fp, hex);
    snprintf(entry, sizeof(entry), "%s %s %s", name, addr, hex);
    struct peer *p = &repl.peers[repl.npeers];
    memset(p, 0, sizeof(*p));
    p->idx = repl.npeers;
    if (_parse_peer(entry, p, err, errlen) != 0)
        return NULL;
    for (int i = 0; i < repl.npeers; i++)
        if (!strcmp(repl.peers[i].name, name) || !memcmp(repl.peers[i].fp, fp, REPL_FP_LEN)) {
            _errf(err, errlen, "peer '%s': its name or fingerprint is another peer's", entry);
            return NULL;
        }
    if (repl.pins) /* not yet at start: repl_setup registers every peer's stats then */
        _register_peer_stats(p);
    pthread_mutex_lock(&repl.status_lock); /* repl_status and repl_clock_offsets read it */
    repl.npeers++;
    pthread_mutex_unlock(&repl.status_lock);
    return p;
}

static int _load_peers(char *err, size_t errlen)
{
    const char *pos = option_get_s(&opts.peer);
    char entry[512];
    while (pos && option_list_next(&pos, entry, sizeof(entry))) {
        if (repl.npeers == REPL_MAX_PEERS) {
            _errf(err, errlen, "at most %d peers", REPL_MAX_PEERS);
            return -1;
        }
        struct peer *p = &repl.peers[repl.npeers];
        memset(p, 0, sizeof(*p));
        p->idx = repl.npeers;
        if (_parse_peer(entry, p, err, errlen) != 0)
            return -1;
        for (int i = 0; i < repl.npeers; i++) {
            if (!strcmp(repl.peers[i].name, p->name) ||
                !memcmp(repl.peers[i].fp, p->fp, REPL_FP_LEN)) {
                _errf(err, errlen, "peer '%s': its name or fingerprint is another peer's", entry);
                return -1;
            }
        }
        if (!memcmp(p->fp, repl.id.fp, REPL_FP_LEN)) {
            _errf(err, errlen, "peer '%s': that fingerprint is this node's own", entry);
            return -1;
        }
        repl.npeers++;
    }
    return 0;
}

/* ---- the mutation subscriber: this node's own changes into the backlog ---- */

#ifdef CACHE_FAULT_INJECTION
static uint32_t fault_records; /* atomic: changes still to corrupt */
void repl_fault_corrupt_records(uint32_t n) { __atomic_store_n(&fault_records, n, __ATOMIC_RELAXED); }

/* The value c carries, with a bit flipped, into buf (its checksum left as it was). */
static void _fault_record(struct repl_change *c, uint8_t *buf, size_t cap)
{
    uint32_t left = __atomic_load_n(&fault_records, __ATOMIC_RELAXED);
    if (!left || !c->value || c->vlen < 2 || c->vlen > cap ||
        !__atomic_compare_exchange_n(&fault_records, &left, left - 1, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    memcpy(buf, c->value, c->vlen);
    buf[c->vlen - 1] ^= 0x20;
    c->value = buf;
}
#endif

static void _on_mutation(void *arg, const struct mutation *m)
{
    (void)arg;
    if (m->origin != repl.node_id || m->local || !repl.backlog)
        return; /* a peer's change applied here: its origin sends it, nobody forwards */
    struct repl_change c = {.stamp = m->hlc, .origin = repl.node_id, .key = m->key,
                            .klen = m->klen, .expire_ms = m->expire_ms, .type = m->type};
    if ((m->op == MUT_SET || m->op == MUT_APPEND) && m->append && m->append->epoch) {
        /* what an APPEND added, where: peers holding the stream that long grow it alike */
        c.op = REPL_OP_APPEND;
        c.value = m->append->data;
        c.vlen = m->append->len;
        c.s_epoch = m->append->epoch;
        c.s_eorigin = m->append->eorigin ? m->append->eorigin : repl.node_id;
        c.s_offset = m->append->offset;
        c.s_prev = m->append->prev;
        c.s_prev_origin = m->append->prev_origin ? m->append->prev_origin
                          : m->append->prev      ? repl.node_id
                                                 : 0;
        c.type = STORE_T_STREAM;
        c.crc = store_value_crc(m->key, m->klen, c.value, c.vlen, NULL, 0, STORE_T_STREAM);
    } else switch (m->op) {
    case MUT_SET:
        /* a stream not made by APPEND here, or whose epoch this node does not know (it came
         * back from disk): peers drop their older value (a miss, never stale) */
        c.op = m->type == STORE_T_STREAM || !m->value ? REPL_OP_DEL
               : m->ctr                               ? REPL_OP_COUNTER
                                                      : REPL_OP_SET;
        c.value = m->value;
        c.vlen = (uint32_t)m->vlen;
        c.ctr = m->ctr;
        c.ctr_len = m->ctr_len;
        c.crc = m->crc; /* the item's own, made when it was accepted: end to end */
        break;
    case MUT_APPEND:
    case MUT_DEL:
        c.op = REPL_OP_DEL;
        break;
    case MUT_TOUCH:
        c.op = REPL_OP_TOUCH;
        break;
    case MUT_FLUSH:
        c.op = REPL_OP_FLUSH;
        c.all = m->ns < 0;
        break;
    default:
        return; /* expiry is absolute and travels with the value; eviction, loads: local */
    }
    if (c.op != REPL_OP_SET && c.op != REPL_OP_COUNTER && c.op != REPL_OP_APPEND)
        c.type = 0;
    if (!(c.op == REPL_OP_FLUSH && c.all)) {
        const char *ns = store_ns_name((uint16_t)m->ns);
        c.ns = (const uint8_t *)ns;
        c.nslen = (uint32_t)strlen(ns);
    } else {
        c.ns = (const uint8_t *)"";
    }
#ifdef CACHE_FAULT_INJECTION
    static __thread uint8_t fault_buf[4096];
    _fault_record(&c, fault_buf, sizeof(fault_buf));
#endif
    if (!backlog_append(repl.backlog, &c, m->hash)) {
        /* too large for the ring: peers drop their copy instead of getting this one */
        c.op = REPL_OP_DEL;
        c.value = NULL;
        c.vlen = 0;
        c.type = 0;
        c.ctr = NULL;
        c.ctr_len = 0;
        backlog_append(repl.backlog, &c, m->hash);
    }
    repl_link_notify();
}

/* ---- setup ---- */

static int _fail(char *err, size_t errlen, const char *fmt, const char *a)
{
    _errf(err, errlen, fmt, a);
    return -1;
}

uint16_t repl_node_id(void)
{
    const char *peers = option_get_s(&opts.peer);
    uint64_t id = option_get_u(&opts.node_id);
    if ((!peers || !*peers) && !*option_get_s(&opts.replication_listen))
        return 0;
    return id <= 65535 ? (uint16_t)id : 0;
}

int repl_setup(char *err, size_t errlen)
{
    const char *peers = option_get_s(&opts.peer);
    const char *listen = option_get_s(&opts.replication_listen);
    uint64_t id = option_get_u(&opts.node_id);
    if ((!peers || !*peers) && !*listen)
        return 0; /* not in a cluster: nothing on the network */
    if (id == 0 || id > 65535)
        return _fail(err, errlen, "%snode-id must be 1..65535 with peers or replication-listen",
                     "");
    if (!*listen)
        return _fail(err, errlen, "%sreplication-listen is needed with peers (HOST:PORT)", "");
    if (repl_parse_addr(listen, &repl.listen_addr) != 0)
        return _fail(err, errlen, "replication-listen '%s' is not an IPv4 HOST:PORT", listen);
    const char *dir = option_get_s(&opts.identity);
    if (!*dir)
        return _fail(err, errlen, "%sidentity is needed with peers (a directory made by "
                     "cacheserverd --gen-identity DIR)", "");
    char why[512];
    if (repl_identity_load(dir, &repl.id, why, sizeof(why)) != REPL_ID_OK) {
        _errf(err, errlen, "identity %s: %s", dir, why);
        return -1;
    }
    repl.node_id = (uint16_t)id;
    const char *name = option_get_s(&opts.node_name);
    if (*name) {
        snprintf(repl.node_name, sizeof(repl.node_name), "%s", name);
    } else if (gethostname(repl.node_name, sizeof(repl.node_name) - 1) != 0 ||
               !repl.node_name[0]) {
        snprintf(repl.node_name, sizeof(repl.node_name), "node%u", repl.node_id);
    }
    if (_load_peers(err, errlen) != 0)
        return -1;
    repl.max_offset_ms = option_get_u(&opts.max_clock_offset);
    repl.ae_interval_ms = option_get_u(&opts.anti_entropy_interval) * 1000;
    /* peer i's fingerprint at i, and at REPL_MAX_PEERS + i the one it is rotating to
     * (members.c), if any: zeros, which no certificate has, stand for none (and for the
     * peers a membership change may add) */
    repl.pins = calloc(2 * REPL_MAX_PEERS, REPL_FP_LEN);
    snprintf(state_path, sizeof(state_path), "%s/replication.state",
             option_registry_str("data_dir"));
    repl.backlog = repl_state_load(state_path, option_get_u(&opts.repl_backlog_size),
                                   _data_persists());
    if (!repl.backlog)
        repl.backlog = backlog_new(option_get_u(&opts.repl_backlog_size));
    if (!repl.pins || !repl.backlog)
        return _fail(err, errlen, "%sout of memory for the backlog", "");
    for (int i = 0; i < repl.npeers; i++)
        memcpy(repl.pins[i], repl.peers[i].fp, REPL_FP_LEN);
    for (int i = 0; i < repl.npeers; i++)
        _register_peer_stats(&repl.peers[i]);
    if (!(repl.client_ctx = repl_tls_ctx_new(&repl.id, false, why, sizeof(why))) ||
        !(repl.server_ctx = repl_tls_ctx_new(&repl.id, true, why, sizeof(why))))
        return _fail(err, errlen, "TLS: %s", why);
    store_set_node_id(repl.node_id);
    uint64_t skew = option_get_u(&opts.repl_test_clock_skew_ms);
    if (skew) {
        log_warn("repl-test-clock-skew-ms = %llu: this node's stamps run ahead of its clock "
                 "(for tests only)", (unsigned long long)skew);
        store_hlc_skew(skew);
    }
    if (repl_members_setup(err, errlen) != 0) /* a revoked peer stays unpinned */
        return -1;
    if (store_mutation_subscribe(_on_mutation, NULL) != 0)
        return _fail(err, errlen, "%sno room for another mutation subscriber", "");
    if (repl_link_start(err, errlen) != 0)
        return -1;
    enabled = true;
    log_info("replication: node %u (%s), %d peers, listening on %s, fingerprint %s",
             repl.node_id, repl.node_name, repl.npeers, listen, repl.id.fp_hex);
    return 0;
}

void repl_teardown(void)
{
    repl_link_stop();
    if (enabled && repl_state_save(state_path, true) != 0)
        log_warn("replication: cannot save %s: %s (peers get a full sync after the restart)",
                 state_path, strerror(errno));
    if (repl.client_ctx)
        SSL_CTX_free(repl.client_ctx);
    if (repl.server_ctx)
        SSL_CTX_free(repl.server_ctx);
    repl.client_ctx = repl.server_ctx = NULL;
    repl_identity_free(&repl.id);
    backlog_free(repl.backlog);
    repl.backlog = NULL;
    repl_members_teardown();
    free(repl.pins);
    repl.pins = NULL;
    enabled = false;
}

uint64_t repl_max_clock_offset_ms(void) { return option_get_u(&opts.max_clock_offset); }
