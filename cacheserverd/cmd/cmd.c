/* Request dispatch: validates a frame, reads op and id, runs the op's handler from the
 * table, records its latency, and maps store outcomes to protocol statuses. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cmd-internal.h"
#include "fault_alloc.h"
#include "fence.h"
#include "histogram.h"
#include "log.h"
#include "stats.h"

struct cmd_options cmd_opts;
static struct option_desc opt_desc[] = OPTION_DESCRIBE(CMD_OPTIONS);

_Static_assert((int)STORE_T_STREAM == (int)CC_TYPE_STREAM && (int)STORE_T_INT == (int)CC_TYPE_INT &&
                   (int)STORE_T_BYTES == (int)CC_TYPE_BYTES &&
                   (int)STORE_T_OBJECT == (int)CC_TYPE_OBJECT,
               "store and protocol type codes must agree");
_Static_assert(STORE_MAX_NAMESPACES == CC_MAX_NAMESPACES && STORE_MAX_NS_LEN == CC_MAX_NS_LEN &&
                   CC_SHM_REPORT_MAX_NS == STORE_MAX_NAMESPACES &&
                   STORE_TTL_NONE == CC_TTL_NONE && STORE_LEASE_MAX_MS == CC_LEASE_MAX_MS,
               "store and protocol limits must agree");

/* Each operation's handler, how many arguments it takes after op and id (the dispatcher
 * answers any other count with E_BAD_ARGS and the usage), and the usage, also the answer to
 * arguments of the wrong type (cmd_bad_usage). */
#define ANY UINT32_MAX
static const struct {
    cmd_fn fn;
    uint32_t min_args, max_args;
    const char *usage;
} table[CC_OP__COUNT] = {
    [CC_OP_PING] = {cmd_ping, 0, ANY, "PING takes any arguments"},
    [CC_OP_HELLO] = {cmd_hello, 1, 2, "HELLO takes version:uint, [options:map]"},
    [CC_OP_GET] = {cmd_get, 1, 1, "GET takes key"},
    [CC_OP_MGET] = {cmd_mget, 1, 1, "MGET takes keys:array"},
    [CC_OP_SET] = {cmd_set, 2, 5, "SET takes key, value, [ttl, flags, cas]"},
    [CC_OP_MSET] = {cmd_mset, 1, 1, "MSET takes items:array of [key, value, ttl]"},
    [CC_OP_DEL] = {cmd_del, 1, ANY, "DEL takes at least one key"},
    [CC_OP_EXISTS] = {cmd_exists, 1, ANY, "EXISTS takes at least one key"},
    [CC_OP_TOUCH] = {cmd_touch, 2, 2, "TOUCH takes key, ttl"},
    [CC_OP_TTL] = {cmd_ttl, 1, 1, "TTL takes key"},
    [CC_OP_INCR] = {cmd_incr, 2, 4, "INCR/DECR take key, delta, [initial, ttl]"},
    [CC_OP_DECR] = {cmd_decr, 2, 4, "INCR/DECR take key, delta, [initial, ttl]"},
    [CC_OP_APPEND] = {cmd_append, 2, 3, "APPEND takes key, data, [ttl]"},
    [CC_OP_GETRANGE] = {cmd_getrange, 3, 3, "GETRANGE takes key, offset, length"},
    [CC_OP_STRLEN] = {cmd_strlen, 1, 1, "STRLEN takes key"},
    [CC_OP_SCAN] = {cmd_scan, 3, 3, "SCAN takes cursor:uint, prefix:bytes, count:1..1000"},
    [CC_OP_FLUSH] = {cmd_flush, 1, 1, "FLUSH takes namespace:str or nil (everything)"},
    [CC_OP_STATS] = {cmd_stats, 0, 0, "STATS takes no arguments"},
    [CC_OP_INFO] = {cmd_info, 0, 0, "INFO takes no arguments"},
    [CC_OP_CONFIG_GET] = {cmd_config_get, 0, 1,
                          "CONFIG_GET takes [pattern:str] (a name or a glob)"},
    [CC_OP_CONFIG_SET] = {cmd_config_set, 2, 2, "CONFIG_SET takes name:str, value:str"},
    [CC_OP_NAMESPACE] = {cmd_namespace, 1, 1, "NAMESPACE takes name:str"},
    [CC_OP_CLUSTER_STATUS] = {cmd_cluster_status, 0, 0, "CLUSTER_STATUS takes no arguments"},
    [CC_OP_WAIT] = {cmd_wait, 2, 2, "WAIT takes replicas:uint, timeout_ms:uint"},
    [CC_OP_CLUSTER_UNFENCE] = {cmd_cluster_unfence, 0, 0, "CLUSTER_UNFENCE takes no arguments"},
    [CC_OP_CLUSTER_REVOKE] = {cmd_cluster_revoke, 1, 1, "CLUSTER_REVOKE takes peer:str"},
    [CC_OP_CLUSTER_READMIT] = {cmd_cluster_readmit, 1, 1, "CLUSTER_READMIT takes peer:str"},
    [CC_OP_CLUSTER_REMOVE] = {cmd_cluster_remove, 1, 1, "CLUSTER_REMOVE takes member:str"},
    [CC_OP_CLUSTER_ADD] = {cmd_cluster_add, 3, 3,
                           "CLUSTER_ADD takes name:str, addr:str (HOST:PORT), fingerprint:str"},
    [CC_OP_CLUSTER_ROTATE_CERT] = {cmd_cluster_rotate_cert, 0, 0,
                                   "CLUSTER_ROTATE_CERT takes no arguments"},
    [CC_OP_LEASE_GET] = {cmd_lease_get, 1, 2, "LEASE_GET takes key, [lease_ms:uint]"},
    [CC_OP_LEASE_SET] = {cmd_lease_set, 2, 4,
                         "LEASE_SET takes key, token:uint, [value, [ttl:uint]]"},
    [CC_OP_SHM_REPORT] = {cmd_shm_report, 3, 3,
                          "SHM_REPORT takes region_id:uint, hits:map of namespace id:uint to "
                          "count:uint, bad:array of key hashes:uint"},
#ifdef CACHE_FAULT_INJECTION
    [CC_OP_FAULT] = {cmd_fault, 2, 2, "FAULT takes what:str, n:uint"},
#endif
};
#undef ANY

static struct histogram op_hist[CC_OP__COUNT];
static uint64_t start_time;

const struct histogram *cmd_op_histogram(int op) { return &op_hist[op]; }
uint64_t cmd_start_time(void) { return start_time; }

static unsigned worker_threads;
void cmd_set_worker_threads(unsigned n) { __atomic_store_n(&worker_threads, n, __ATOMIC_RELAXED); }
unsigned cmd_worker_threads(void) { return __atomic_load_n(&worker_threads, __ATOMIC_RELAXED); }

void cmd_options_register(void)
{
    size_t n = sizeof(opt_desc) / sizeof(opt_desc[0]);
    option_bind(opt_desc, n, &cmd_opts);
    option_registry_add("cmd", opt_desc, n);
    /* docs/config.md lists the same ranges. Keys: an item keeps its length in 16 bits.
     * Values: at least the 1 MiB pieces clients APPEND (cache-cli, cache://); the frame rule
     * (settings.c) bounds both further. */
    static const struct option_range ranges[] = {
        {"max_key_size", 16, 65535, false},
        {"max_value_size", 1ull << 20, UINT32_MAX, false},
        /* a multi-key request runs whole on its worker, so its key count is what bounds
         * the time other connections on that worker wait (docs/protocol.md, "Limits") */
        {"max_request_keys", 1, 1000000, false},
    };
    option_registry_ranges("cmd", ranges, sizeof(ranges) / sizeof(ranges[0]));
}

int cmd_setup(void)
{
    if (!cmd_opts.max_key_size.set &&
        option_set_defaults(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), NULL, 0) != 0)
        return -1;
    start_time = (uint64_t)time(NULL);
    return 0;
}

void cmd_teardown(void) { reply_thread_free(); }
void cmd_thread_exit(void)
{
    reply_thread_free();
    store_shm_thread_exit();
}

void cmd_bad_args(struct req *q, struct reply *r, const char *what)
{
    reply_error(r, q->id, CC_E_BAD_ARGS, "%s", what);
}

bool cmd_ttl_ok(struct req *q, struct reply *r, uint64_t ttl_ms)
{
    if (ttl_ms <= CC_TTL_MAX_MS)
        return true;
    reply_error(r, q->id, CC_E_BAD_ARGS,
                "%s ttl %" PRIu64 " ms is above the maximum %llu ms (100 years); 0 means none",
                cc_op_name(q->op), ttl_ms, CC_TTL_MAX_MS);
    return false;
}

void cmd_bad_usage(struct req *q, struct reply *r) { cmd_bad_args(q, r, table[q->op].usage); }

bool cmd_keys_ok(struct req *q, struct reply *r, uint64_t n)
{
    uint64_t max = option_get_u(&cmd_opts.max_request_keys);
    if (n <= max)
        return true;
    reply_error(r, q->id, CC_E_LIMIT,
                "%s of %" PRIu64 " keys is over max_request_keys %" PRIu64
                ": split it into requests of at most that many",
                cc_op_name(q->op), n, max);
    return false;
}

bool cmd_arg_key(struct req *q, struct reply *r, struct store_key *k, uint16_t ns)
{
    const uint8_t *d;
    uint32_t len;
    if (!mp_read_bytes(&q->args, &d, &len)) {
        cmd_bad_args(q, r, "key must be a str or bin");
        return false;
    }
    if (len == 0) {
        cmd_bad_args(q, r, "key must not be empty");
        return false;
    }
    uint64_t max = option_get_u(&cmd_opts.max_key_size);
    if (len > max) {
        reply_error(r, q->id, CC_E_KEY_TOO_LONG, "key of %u bytes exceeds max_key_size %llu",
                    len, (unsigned long long)max);
        return false;
    }
    store_key_init(k, ns, d, len);
    return true;
}

void cmd_reply_store_status(struct req *q, struct reply *r, int st)
{
    switch (st) {
    case STORE_OK:
        reply_begin(r, q->id, CC_OK, 0);
        return;
    case STORE_NOT_FOUND:
        reply_begin(r, q->id, CC_NOT_FOUND, 0);
        return;
    case STORE_NOT_STORED:
        reply_begin(r, q->id, CC_NOT_STORED, 0);
        return;
    case STORE_CAS_MISMATCH:
        reply_begin(r, q->id, CC_CAS_MISMATCH, 0);
        return;
    case STORE_ETYPE:
        reply_error(r, q->id, CC_E_TYPE, "operation not valid for the value's type");
        return;
    case STORE_EOVERFLOW:
        reply_error(r, q->id, CC_E_OVERFLOW, "result outside the signed 64-bit range");
        return;
    case STORE_ENOMEM:
        reply_error(r, q->id, CC_E_NOMEM, "no room within the memory limit (%llu bytes)",
                    (unsigned long long)store_memory_limit());
        return;
    case STORE_ELIMIT:
        reply_error(r, q->id, CC_E_LIMIT, "limit reached: at most %d namespaces, and a replicated "
                    "counter takes increments from at most 64 nodes", CC_MAX_NAMESPACES);
        return;
    }
    reply_error(r, q->id, CC_E_INTERNAL, "unexpected store status %d", st);
}

static void *_session_open(void *ctx, const struct core_peer *peer)
{
    (void)ctx;
    struct session *s = calloc(1, sizeof(*s));
    if (s)
        s->peer = *peer;
    return s;
}

static void _session_close(void *session) { free(session); }

/* The operations that change data: refused while this node is fenced (util/fence.h). */
static bool _is_write(int op)
{
    switch (op) {
    case CC_OP_SET:
    case CC_OP_MSET:
    case CC_OP_DEL:
    case CC_OP_TOUCH:
    case CC_OP_INCR:
    case CC_OP_DECR:
    case CC_OP_APPEND:
    case CC_OP_FLUSH:
    case CC_OP_LEASE_SET:
        return true;
    default:
        return false;
    }
}

/* A read while fenced (fenced-reads off): answered as a miss. False for other operations. */
static bool _fenced_read(struct req *q, struct reply *r)
{
    uint32_t n;
    struct mp_cursor keys;
    switch (q->op) {
    case CC_OP_GET:
    case CC_OP_LEASE_GET: /* a miss without a lease: the caller computes, stores nothing */
    case CC_OP_TTL:
    case CC_OP_STRLEN:
    case CC_OP_GETRANGE:
        reply_begin(r, q->id, CC_NOT_FOUND, 0);
        return true;
    case CC_OP_EXISTS:
        reply_begin(r, q->id, CC_OK, 1);
        msgpack_pack_uint64(&r->pk, 0);
        return true;
    case CC_OP_MGET:
        keys = q->args; /* MGET itself says what is wrong with a bad one */
        if (!mp_read_array(&keys, &n))
            return false;
        reply_begin(r, q->id, CC_OK, 1);
        msgpack_pack_array(&r->pk, n);
        for (uint32_t i = 0; i < n; i++)
            msgpack_pack_nil(&r->pk);
        return true;
    case CC_OP_SCAN:
        reply_begin(r, q->id, CC_OK, 2);
        msgpack_pack_uint64(&r->pk, 0);
        msgpack_pack_array(&r->pk, 0);
        return true;
    default:
        return false;
    }
}

static void _fenced(struct req *q, struct reply *r)
{
    char why[200];
    fence_reason(why, sizeof(why));
    reply_error(r, q->id, CC_E_FENCED,
                "this node is fenced: %s. Writes are refused until an operator runs "
                "`cache-cli cluster unfence`", why[0] ? why : "no reason kept");
}

enum core_verdict cmd_dispatch(struct session *s, const uint8_t *body, size_t len,
                               struct core_out *out, int attempt,
                               const struct disk_reads *disk)
{
    struct reply *r = reply_get();
    struct req q = {.attempt = attempt, .disk = disk, .s = s, .body = body, .blen = len};
    struct mp_cursor c, whole;
    uint32_t n;
    uint64_t op;
    mp_cursor_init(&c, body, len);
    whole = c;
    /* the frame must be exactly one array, values nested at most the value limit inside it */
    if (!mp_skip_any(&whole, CC_MAX_VALUE_DEPTH + 3) || mp_remaining(&whole) != 0 ||
        !mp_read_array(&c, &n)) {
        reply_error(r, 0, CC_E_PROTOCOL,
                    "frame body must be exactly one msgpack array [op, id, args...]");
        reply_finish(r, out);
        return CORE_CONTINUE;
    }
    if (n < 2 || !mp_read_uint(&c, &op)) {
        reply_error(r, 0, CC_E_PROTOCOL, "request must start with op:uint, id:uint");
        reply_finish(r, out);
        return CORE_CONTINUE;
    }
    if (!mp_read_uint(&c, &q.id)) {
        reply_error(r, 0, CC_E_PROTOCOL, "request id must be a uint");
        reply_finish(r, out);
        return CORE_CONTINUE;
    }
    q.argc = n - 2;
    q.args = c;
    if (op >= CC_OP__COUNT || !table[op].fn) {
        reply_error(r, q.id, CC_E_UNKNOWN_OP, "unknown operation %llu", (unsigned long long)op);
        reply_finish(r, out);
        return CORE_CONTINUE;
    }
    uint64_t t0 = clock_mono_us();
    q.op = (int)op;
    q.out = out;
    /* Fault builds: from here to the reply's assembly, allocations may be made to fail
     * (FAULT fail-allocs, fault_alloc.c), except FAULT's own. */
    fault_alloc_request(q.op != CC_OP_FAULT);
    if (q.argc < table[op].min_args || q.argc > table[op].max_args)
        cmd_bad_usage(&q, r);
    else if (fence_active() && _is_write(q.op))
        _fenced(&q, r);
    else if (fence_active() && !option_get_b(&cmd_opts.fenced_reads) && _fenced_read(&q, r))
        ; /* a miss: what a fenced node holds is not trusted */
    else
        table[op].fn(s, &q, r);
    if (!q.from_disk)
        hist_record(&op_hist[op], clock_mono_us() - t0);
    enum core_verdict v = CORE_CONTINUE;
    if (q.deferred) {
        reply_discard(r);
        v = CORE_PENDING;
    } else if (cmd_tier_after(s, &q, r, body, len)) {
        v = CORE_PENDING;
    } else {
        reply_finish(r, out);
    }
    fault_alloc_request(false);
    return v;
}

static enum core_verdict _frame(void *session, const uint8_t *body, size_t len,
                                struct core_out *out)
{
    return cmd_dispatch(session, body, len, out, 0, NULL);
}

/* GET and MGET change nothing a request can see (a disk read's load into memory is not a
 * change: docs/design.md), so they may run before the deferred requests ahead of them and
 * these before them (core's handler.h). Any other request, or a frame that does not parse,
 * waits for the replies before it. */
static bool _reorderable(void *session, const uint8_t *body, size_t len)
{
    (void)session;
    struct mp_cursor c;
    uint32_t n;
    uint64_t op;
    mp_cursor_init(&c, body, len);
    return mp_read_array(&c, &n) && n >= 2 && mp_read_uint(&c, &op) &&
           (op == CC_OP_GET || op == CC_OP_MGET);
}

static void _frame_too_large(void *session, uint64_t len, uint64_t max, struct core_out *out)
{
    (void)session;
    struct reply *r = reply_get();
    reply_error(r, 0, CC_E_FRAME_TOO_LARGE, "frame of %llu bytes exceeds max_frame_size %llu",
                (unsigned long long)len, (unsigned long long)max);
    reply_finish(r, out);
}

static void _too_many(struct core_out *out)
{
    struct reply *r = reply_get();
    reply_error(r, 0, CC_E_LIMIT, "too many connections (max_connections reached)");
    reply_finish(r, out);
}

static const struct core_handler handler = {
    .ctx = NULL,
    .session_open = _session_open,
    .session_close = _session_close,
    .frame = _frame,
    .reorderable = _reorderable,
    .frame_too_large = _frame_too_large,
    .too_many_connections = _too_many,
    .thread_exit = cmd_thread_exit,
    .after_flush = store_shm_drain,
};

const struct core_handler *cmd_handler(void) { return &handler; }
