/* Memory that runs out (issue 14; docs/reliability.md, "Memory that runs out"): a malloc
 * that fails while a request is handled is an E_NOMEM reply, never a crash, an abort, a hang,
 * a sanitizer report, a wrong value or a dropped connection.
 *
 * Needs a server built with -Dfault_injection=true (build-asan in the test command): FAULT
 * skip-allocs k + FAULT fail-allocs n fail the allocations k+1 .. k+n of the next request
 * (cacheserverd/cmd/fault_alloc.c). For every operation below, k goes 0, 1, 2, ... until the
 * request makes no more than k allocations, in two modes: exactly one allocation fails (n = 1,
 * so every allocation site is visited alone), and every allocation from the (k+1)-th on fails
 * (n large: memory that stays short). Each reply must be the operation's normal answer or
 * E_NOMEM; what a write left behind is either the old or the new state, never a third; then
 * PING and GETs of values written before answer, unchanged. At the end the server stops
 * cleanly (under ASan: no leak reports). A second server with an SSD tier does the same for
 * requests on keys only the disk holds (cmd_tier.c). Without a FAULT op (the normal build)
 * both say "# skipped". */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cacheclient_protocol.h"
#include "harness.h"
#include "mpread.h"

#define MAX_SKIP 60          /* more allocations than any request here makes */
#define FAIL_ALL 100000      /* "every allocation from the (k+1)-th on" */
#define BIG_LEN 20000        /* a bytes value above the reply's copy threshold */
#define STREAM_LEN (600u * 1024) /* a stream of three chunks */
#define LARGE_APPEND (300u * 1024)
#define SCAN_KEYS 50
#define MANY_KEYS 300        /* MGET of these 4000-byte values: a reply of 1.2 MB, copied */
#define MANY_LEN 4000

static struct harness *h;
static int fd = -1;
static uint64_t next_id = 1;

/* ---- requests ---- */

struct rep {
    uint8_t *body;
    size_t len;
    uint64_t id;
    int64_t status;
    uint32_t nresults;
    struct mp_cursor res; /* at the first result */
};

static void _rep_free(struct rep *r)
{
    free(r->body);
    r->body = NULL;
}

typedef void (*pack_fn)(msgpack_packer *pk, int iter);

/* Send [op, id, args (pack, nargs of them)] and read the reply; fails the test on a dropped
 * connection, a timeout (harness_connect sets 5 s) or a reply to another id. */
static void _call(int op, uint32_t nargs, pack_fn pack, int iter, struct rep *r)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint64_t id = next_id++;
    msgpack_pack_array(&pk, 2 + nargs);
    msgpack_pack_int(&pk, op);
    msgpack_pack_uint64(&pk, id);
    if (pack)
        pack(&pk, iter);
    assert_int_equal(harness_send_frame(fd, sb.data, sb.size), 0);
    msgpack_sbuffer_destroy(&sb);
    memset(r, 0, sizeof(*r));
    if (harness_recv_frame(fd, &r->body, &r->len) != 0) {
        fprintf(stderr, "%s (iteration %d): no reply (server %s)\n", cc_op_name(op), iter,
                harness_alive(h) ? "alive" : "gone");
        harness_print_log(h, 40);
        fail();
    }
    uint32_t n;
    mp_cursor_init(&r->res, r->body, r->len);
    assert_true(mp_read_array(&r->res, &n) && n >= 2);
    assert_true(mp_read_uint(&r->res, &r->id));
    assert_true(mp_read_int(&r->res, &r->status));
    assert_int_equal(r->id, id);
    r->nresults = n - 2;
}

/* ---- argument packers ---- */

static const char *kstr;
static const uint8_t *vdata;
static size_t vlen;
static uint64_t u1, u2;
static int64_t i1;

static void _pk_bin(msgpack_packer *pk, const void *d, size_t len)
{
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, d, len);
}

static void _pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void _a_key(msgpack_packer *pk, int iter) { (void)iter; _pk_bin(pk, kstr, strlen(kstr)); }
static void _a_key_val(msgpack_packer *pk, int iter)
{
    _a_key(pk, iter);
    _pk_bin(pk, vdata, vlen);
}
static void _a_key_int(msgpack_packer *pk, int iter)
{
    _a_key(pk, iter);
    msgpack_pack_int64(pk, i1);
}
static void _a_key_u_u(msgpack_packer *pk, int iter)
{
    _a_key(pk, iter);
    msgpack_pack_uint64(pk, u1);
    msgpack_pack_uint64(pk, u2);
}
static void _a_str(msgpack_packer *pk, int iter)
{
    (void)iter;
    _pk_str(pk, kstr);
}
static const char *fault_what;
static uint64_t fault_n;
static void _a_fault(msgpack_packer *pk, int iter)
{
    (void)iter;
    _pk_str(pk, fault_what);
    msgpack_pack_uint64(pk, fault_n);
}

/* ---- values: deterministic bytes ---- */

static uint8_t *_pattern(size_t len, unsigned seed)
{
    uint8_t *b = malloc(len ? len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) & 0xff);
    return b;
}

static uint8_t *big, *stream_data;
static const char known[] = "the known value";

/* ---- plain requests (never under a fault) ---- */

static int64_t _fault(const char *what, uint64_t n)
{
    struct rep r;
    fault_what = what;
    fault_n = n;
    _call(CC_OP_FAULT, 2, _a_fault, 0, &r);
    int64_t v = -1;
    uint64_t u;
    if (r.status == CC_OK && mp_read_uint(&r.res, &u))
        v = (int64_t)u;
    _rep_free(&r);
    return v;
}

static void _set(const char *key, const void *v, size_t len)
{
    struct rep r;
    kstr = key;
    vdata = v;
    vlen = len;
    _call(CC_OP_SET, 2, _a_key_val, 0, &r);
    assert_int_equal(r.status, CC_OK);
    _rep_free(&r);
}

static void _append(const char *key, const void *v, size_t len)
{
    struct rep r;
    kstr = key;
    vdata = v;
    vlen = len;
    _call(CC_OP_APPEND, 2, _a_key_val, 0, &r);
    assert_int_equal(r.status, CC_OK);
    _rep_free(&r);
}

static void _del(const char *key)
{
    struct rep r;
    kstr = key;
    _call(CC_OP_DEL, 1, _a_key, 0, &r);
    assert_int_equal(r.status, CC_OK);
    _rep_free(&r);
}

static void _namespace(const char *name)
{
    struct rep r;
    kstr = name;
    _call(CC_OP_NAMESPACE, 1, _a_str, 0, &r);
    assert_int_equal(r.status, CC_OK);
    _rep_free(&r);
}

/* GET key: 1 with the bytes (malloc'd copy in *out) when found, 0 when not. */
static int _get(const char *key, uint8_t **out, size_t *olen)
{
    struct rep r;
    kstr = key;
    _call(CC_OP_GET, 1, _a_key, 0, &r);
    if (r.status == CC_NOT_FOUND) {
        _rep_free(&r);
        return 0;
    }
    assert_int_equal(r.status, CC_OK);
    uint64_t type;
    const uint8_t *d;
    uint32_t len;
    assert_true(mp_read_uint(&r.res, &type));
    assert_true(mp_read_bytes(&r.res, &d, &len));
    *out = malloc(len ? len : 1);
    memcpy(*out, d, len);
    *olen = len;
    _rep_free(&r);
    return 1;
}

/* The value of key is exactly (v, len); or, when may_miss, also absent. */
static void _expect(const char *key, const void *v, size_t len, bool may_miss)
{
    uint8_t *got;
    size_t glen;
    if (!_get(key, &got, &glen)) {
        if (!may_miss)
            fprintf(stderr, "%s: missing\n", key);
        assert_true(may_miss);
        return;
    }
    if (glen != len || memcmp(got, v, len) != 0) {
        fprintf(stderr, "%s: %zu bytes, not the %zu written\n", key, glen, len);
        fail();
    }
    free(got);
}

static int64_t _counter(const char *key)
{
    struct rep r;
    kstr = key;
    _call(CC_OP_GET, 1, _a_key, 0, &r);
    assert_int_equal(r.status, CC_OK);
    uint64_t type;
    int64_t v;
    assert_true(mp_read_uint(&r.res, &type));
    assert_int_equal(type, CC_TYPE_INT);
    assert_true(mp_read_int(&r.res, &v));
    _rep_free(&r);
    return v;
}

/* The server still serves, and what was written before is intact. */
static void _still_serving(void)
{
    struct rep r;
    _call(CC_OP_PING, 0, NULL, 0, &r);
    assert_int_equal(r.status, CC_OK);
    _rep_free(&r);
    _expect("known", known, sizeof(known) - 1, false);
    _expect("big", big, BIG_LEN, false);
}

/* ---- the cases: a request under a fault, and what must hold after it ---- */

struct nomem_case {
    const char *name;
    int op;
    uint32_t nargs;
    pack_fn pack;
    void (*before)(int iter);       /* set up, then set kstr etc. for pack */
    bool (*ok)(struct rep *r, int iter); /* the normal answer: checks it */
    void (*after)(int status, int iter); /* the state after (status OK or E_NOMEM) */
};

static char iter_key[64];
static int64_t ctr_before;

static const char *_ikey(const char *prefix, int iter)
{
    snprintf(iter_key, sizeof(iter_key), "%s:%d", prefix, iter);
    return iter_key;
}

static bool _ok_status(struct rep *r, int iter)
{
    (void)iter;
    return r->status == CC_OK;
}

static bool _ok_uint(struct rep *r, uint64_t want)
{
    uint64_t v;
    return r->status == CC_OK && mp_read_uint(&r->res, &v) && v == want;
}

static bool _ok_item(struct rep *r, const void *v, size_t len)
{
    uint64_t type;
    const uint8_t *d;
    uint32_t dl;
    int64_t ttl;
    uint64_t version;
    return r->status == CC_OK && r->nresults == 4 && mp_read_uint(&r->res, &type) &&
           mp_read_bytes(&r->res, &d, &dl) && dl == len && memcmp(d, v, len) == 0 &&
           mp_read_int(&r->res, &ttl) && mp_read_uint(&r->res, &version);
}

/* A flat map of str keys (STATS, INFO, CONFIG_GET) with at least `min` entries. */
static bool _ok_map(struct rep *r, uint32_t min)
{
    uint32_t n;
    if (r->status != CC_OK || !mp_read_map(&r->res, &n) || n < min)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        if (!mp_read_bytes(&r->res, &k, &kl) || !mp_skip(&r->res, 4))
            return false;
    }
    return mp_remaining(&r->res) == 0;
}

/* SET: small and BIG_LEN values to new keys */
static uint8_t *set_val;
static size_t set_len;
static void _b_set(int iter)
{
    kstr = _ikey("set", iter);
    set_len = iter % 2 ? BIG_LEN : 40;
    free(set_val);
    set_val = _pattern(set_len, (unsigned)iter);
    vdata = set_val;
    vlen = set_len;
}
static bool _k_set(struct rep *r, int iter)
{
    (void)iter;
    uint64_t version;
    return r->status == CC_OK && mp_read_uint(&r->res, &version);
}
static void _a_set(int status, int iter)
{
    _expect(_ikey("set", iter), set_val, set_len, status != CC_OK);
}

/* MSET of three new keys */
static void _b_mset(int iter) { (void)iter; }
static void _p_mset(msgpack_packer *pk, int iter)
{
    msgpack_pack_array(pk, 3);
    for (int j = 0; j < 3; j++) {
        char key[64];
        snprintf(key, sizeof(key), "mset:%d:%d", iter, j);
        uint8_t *v = _pattern(100 + 3000 * (size_t)j, (unsigned)(iter + j));
        msgpack_pack_array(pk, 2);
        _pk_bin(pk, key, strlen(key));
        _pk_bin(pk, v, 100 + 3000 * (size_t)j);
        free(v);
    }
}
static bool _k_mset(struct rep *r, int iter)
{
    (void)iter;
    return _ok_uint(r, 3);
}
static void _a_mset(int status, int iter)
{
    for (int j = 0; j < 3; j++) {
        char key[64];
        snprintf(key, sizeof(key), "mset:%d:%d", iter, j);
        uint8_t *v = _pattern(100 + 3000 * (size_t)j, (unsigned)(iter + j));
        _expect(key, v, 100 + 3000 * (size_t)j, status != CC_OK);
        free(v);
    }
}

/* GET of a small value, a big one and a stream */
static void _b_get_known(int iter) { (void)iter; kstr = "known"; }
static void _b_get_big(int iter) { (void)iter; kstr = "big"; }
static void _b_get_stream(int iter) { (void)iter; kstr = "stream"; }
static bool _k_get_known(struct rep *r, int iter)
{
    (void)iter;
    return _ok_item(r, known, sizeof(known) - 1);
}
static bool _k_get_big(struct rep *r, int iter)
{
    (void)iter;
    return _ok_item(r, big, BIG_LEN);
}
static bool _k_get_stream(struct rep *r, int iter)
{
    (void)iter;
    return _ok_item(r, stream_data, STREAM_LEN);
}
static void _a_none(int status, int iter)
{
    (void)status;
    (void)iter;
}

/* MGET [known, big, missing, stream] */
static void _b_none(int iter) { (void)iter; }
static void _p_mget(msgpack_packer *pk, int iter)
{
    (void)iter;
    msgpack_pack_array(pk, 4);
    _pk_bin(pk, "known", 5);
    _pk_bin(pk, "big", 3);
    _pk_bin(pk, "missing", 7);
    _pk_bin(pk, "stream", 6);
}
static bool _k_mget(struct rep *r, int iter)
{
    (void)iter;
    uint32_t n, m;
    if (r->status != CC_OK || !mp_read_array(&r->res, &n) || n != 4)
        return false;
    struct {
        const void *v;
        size_t len;
    } want[4] = {{known, sizeof(known) - 1}, {big, BIG_LEN}, {NULL, 0}, {stream_data, STREAM_LEN}};
    for (int i = 0; i < 4; i++) {
        if (!want[i].v) {
            if (!mp_read_nil(&r->res))
                return false;
            continue;
        }
        uint64_t type, version;
        int64_t ttl;
        const uint8_t *d;
        uint32_t dl;
        if (!mp_read_array(&r->res, &m) || m != 4 || !mp_read_uint(&r->res, &type) ||
            !mp_read_bytes(&r->res, &d, &dl) || dl != want[i].len ||
            memcmp(d, want[i].v, dl) != 0 || !mp_read_int(&r->res, &ttl) ||
            !mp_read_uint(&r->res, &version))
            return false;
    }
    return true;
}

/* MGET of MANY_KEYS values small enough to be copied: the reply buffer grows past 1 MiB
 * (and is freed after each such reply), so its every growth is an allocation to fail */
static uint8_t *many_val(int i) { return _pattern(MANY_LEN, 1000u + (unsigned)i); }
static void _p_mget_many(msgpack_packer *pk, int iter)
{
    (void)iter;
    msgpack_pack_array(pk, MANY_KEYS);
    for (int i = 0; i < MANY_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "many:%d", i);
        _pk_bin(pk, key, strlen(key));
    }
}
static bool _k_mget_many(struct rep *r, int iter)
{
    (void)iter;
    uint32_t n, m;
    if (r->status != CC_OK || !mp_read_array(&r->res, &n) || n != MANY_KEYS)
        return false;
    for (int i = 0; i < MANY_KEYS; i++) {
        uint64_t type, version;
        int64_t ttl;
        const uint8_t *d;
        uint32_t dl;
        uint8_t *want = many_val(i);
        bool ok = mp_read_array(&r->res, &m) && m == 4 && mp_read_uint(&r->res, &type) &&
                  mp_read_bytes(&r->res, &d, &dl) && dl == MANY_LEN &&
                  memcmp(d, want, dl) == 0 && mp_read_int(&r->res, &ttl) &&
                  mp_read_uint(&r->res, &version);
        free(want);
        if (!ok)
            return false;
    }
    return mp_remaining(&r->res) == 0;
}

/* EXISTS [known, missing], TOUCH known 0, HELLO 1, CLUSTER_STATUS */
static void _p_exists(msgpack_packer *pk, int iter)
{
    (void)iter;
    _pk_bin(pk, "known", 5);
    _pk_bin(pk, "missing", 7);
}
static bool _k_exists(struct rep *r, int iter)
{
    (void)iter;
    return _ok_uint(r, 1);
}
static void _p_touch(msgpack_packer *pk, int iter)
{
    (void)iter;
    _pk_bin(pk, "known", 5);
    msgpack_pack_uint64(pk, 0);
}
static void _p_hello(msgpack_packer *pk, int iter)
{
    (void)iter;
    msgpack_pack_uint64(pk, CC_PROTOCOL_VERSION);
}
static bool _k_hello(struct rep *r, int iter)
{
    (void)iter;
    return _ok_map(r, 6);
}
static bool _k_cluster(struct rep *r, int iter)
{
    (void)iter;
    return _ok_map(r, 3);
}

/* DEL of a key set just before */
static void _b_del(int iter)
{
    _set(_ikey("del", iter), "x", 1);
    kstr = iter_key;
}
static bool _k_del(struct rep *r, int iter)
{
    (void)iter;
    return _ok_uint(r, 1);
}
static void _a_del(int status, int iter)
{
    _expect(_ikey("del", iter), "x", 1, true);
    if (status == CC_OK) {
        uint8_t *got;
        size_t gl;
        assert_int_equal(_get(iter_key, &got, &gl), 0);
    }
    _del(iter_key);
}

/* INCR ctr 1 */
static void _b_incr(int iter)
{
    (void)iter;
    ctr_before = _counter("ctr");
    kstr = "ctr";
    i1 = 1;
}
static bool _k_incr(struct rep *r, int iter)
{
    (void)iter;
    int64_t v;
    return r->status == CC_OK && mp_read_int(&r->res, &v) && v == ctr_before + 1;
}
static void _a_incr(int status, int iter)
{
    (void)iter;
    int64_t now = _counter("ctr");
    if (status == CC_OK)
        assert_int_equal(now, ctr_before + 1);
    else
        assert_true(now == ctr_before || now == ctr_before + 1);
}

/* APPEND: 100 bytes to a new key (a new stream); LARGE_APPEND bytes to a bytes value (it
 * becomes a stream of two chunks); 70 KiB to the end of a stream of three chunks */
static uint8_t *app_head, *app_data;
static size_t app_head_len, app_len;
static void _b_app(const char *prefix, int iter, size_t head, size_t len, bool head_stream)
{
    const char *key = _ikey(prefix, iter);
    free(app_head);
    free(app_data);
    app_head = _pattern(head, (unsigned)iter + 1);
    app_head_len = head;
    if (head && head_stream)
        _append(key, app_head, head);
    else if (head)
        _set(key, app_head, head);
    app_data = _pattern(len, (unsigned)iter + 2);
    app_len = len;
    kstr = iter_key;
    vdata = app_data;
    vlen = len;
}
static void _b_app_new(int iter) { _b_app("appn", iter, 0, 100, false); }
static void _b_app_large(int iter) { _b_app("appl", iter, 1000, LARGE_APPEND, false); }
static void _b_app_stream(int iter) { _b_app("apps", iter, STREAM_LEN, 70 * 1024, true); }
static bool _k_app(struct rep *r, int iter)
{
    (void)iter;
    return _ok_uint(r, app_head_len + app_len);
}
/* The key holds the head alone (or nothing when there was none) or head + data. */
static void _a_app(int status, int iter)
{
    (void)iter;
    size_t all = app_head_len + app_len;
    uint8_t *want = malloc(all);
    memcpy(want, app_head, app_head_len);
    memcpy(want + app_head_len, app_data, app_len);
    uint8_t *got;
    size_t gl;
    int found = _get(kstr, &got, &gl);
    if (status == CC_OK) {
        assert_int_equal(found, 1);
        assert_int_equal(gl, all);
    } else if (!found) {
        assert_int_equal(app_head_len, 0);
    } else {
        assert_true(gl == all || gl == app_head_len);
    }
    if (found) {
        assert_memory_equal(got, want, gl);
        free(got);
    }
    free(want);
    _del(kstr); /* keep memory small */
}

/* GETRANGE of the stream across its chunk boundaries */
static void _b_getrange(int iter)
{
    (void)iter;
    kstr = "stream";
    u1 = 200 * 1024;
    u2 = 350 * 1024;
}
static bool _k_getrange(struct rep *r, int iter)
{
    (void)iter;
    const uint8_t *d;
    uint32_t dl;
    return r->status == CC_OK && mp_read_bytes(&r->res, &d, &dl) && dl == u2 &&
           memcmp(d, stream_data + u1, u2) == 0;
}

/* SCAN of the SCAN_KEYS keys "scan:N" */
static void _p_scan(msgpack_packer *pk, int iter)
{
    (void)iter;
    msgpack_pack_uint64(pk, 0);
    _pk_bin(pk, "scan:", 5);
    msgpack_pack_uint64(pk, 1000);
}
static bool _k_scan(struct rep *r, int iter)
{
    (void)iter;
    uint64_t cursor;
    uint32_t n;
    if (r->status != CC_OK || !mp_read_uint(&r->res, &cursor) || !mp_read_array(&r->res, &n))
        return false;
    if (cursor == 0 && n != SCAN_KEYS)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        if (!mp_read_bytes(&r->res, &k, &kl) || kl < 6 || memcmp(k, "scan:", 5) != 0)
            return false;
    }
    return true;
}

static bool _k_stats(struct rep *r, int iter)
{
    (void)iter;
    return _ok_map(r, 20);
}
static bool _k_info(struct rep *r, int iter)
{
    (void)iter;
    return _ok_map(r, 10);
}
static bool _k_config(struct rep *r, int iter)
{
    (void)iter;
    return _ok_map(r, 10);
}

/* NAMESPACE of a new name: on success the session is in it (known is not there) */
static void _b_ns(int iter) { kstr = _ikey("ns", iter); }
static void _a_ns(int status, int iter)
{
    (void)iter;
    uint8_t *got;
    size_t gl;
    if (status == CC_OK) {
        assert_int_equal(_get("known", &got, &gl), 0);
        _namespace(""); /* back to the default one */
    }
}

/* LEASE_GET of a missing key (the lease is granted: its token), and LEASE_SET with it */
static uint64_t lease_token;
static void _b_lease_get(int iter) { kstr = _ikey("lease", iter); }
static bool _k_lease_get(struct rep *r, int iter)
{
    (void)iter;
    uint64_t token;
    return r->status == CC_LEASED && mp_read_uint(&r->res, &token) && token > 0;
}
static void _b_lease_set(int iter)
{
    static char key[64];
    snprintf(key, sizeof(key), "lset:%d", iter);
    kstr = key;
    struct rep r;
    _call(CC_OP_LEASE_GET, 1, _a_key, iter, &r); /* no fault armed yet */
    assert_int_equal(r.status, CC_LEASED);
    assert_true(mp_read_uint(&r.res, &lease_token));
    _rep_free(&r);
    vdata = (const uint8_t *)known;
    vlen = sizeof(known) - 1;
}
static void _p_lease_set(msgpack_packer *pk, int iter)
{
    _a_key(pk, iter);
    msgpack_pack_uint64(pk, lease_token);
    _pk_bin(pk, vdata, vlen);
}
static void _a_lease_set(int status, int iter)
{
    _expect(_ikey("lset", iter), known, sizeof(known) - 1, status != CC_OK);
}

/* FLUSH of a namespace holding three keys */
static void _b_flush(int iter)
{
    (void)iter;
    _namespace("flushme");
    _set("f1", "1", 1);
    _set("f2", "2", 1);
    _set("f3", "3", 1);
    _namespace("");
    kstr = "flushme";
}
static bool _k_flush(struct rep *r, int iter)
{
    (void)iter;
    return _ok_uint(r, 3);
}
static void _a_flush(int status, int iter)
{
    (void)iter;
    _namespace("flushme");
    uint8_t *got;
    size_t gl;
    for (int i = 1; i <= 3; i++) {
        char key[4];
        snprintf(key, sizeof(key), "f%d", i);
        int found = _get(key, &got, &gl);
        if (found)
            free(got);
        if (status == CC_OK)
            assert_int_equal(found, 0);
    }
    _namespace("");
}

static const struct nomem_case cases[] = {
    {"SET", CC_OP_SET, 2, _a_key_val, _b_set, _k_set, _a_set},
    {"MSET", CC_OP_MSET, 1, _p_mset, _b_mset, _k_mset, _a_mset},
    {"GET small", CC_OP_GET, 1, _a_key, _b_get_known, _k_get_known, _a_none},
    {"GET big", CC_OP_GET, 1, _a_key, _b_get_big, _k_get_big, _a_none},
    {"GET stream", CC_OP_GET, 1, _a_key, _b_get_stream, _k_get_stream, _a_none},
    {"MGET", CC_OP_MGET, 1, _p_mget, _b_none, _k_mget, _a_none},
    {"MGET 1.2 MB", CC_OP_MGET, 1, _p_mget_many, _b_none, _k_mget_many, _a_none},
    {"EXISTS", CC_OP_EXISTS, 2, _p_exists, _b_none, _k_exists, _a_none},
    {"TOUCH", CC_OP_TOUCH, 2, _p_touch, _b_none, _ok_status, _a_none},
    {"DEL", CC_OP_DEL, 1, _a_key, _b_del, _k_del, _a_del},
    {"INCR", CC_OP_INCR, 2, _a_key_int, _b_incr, _k_incr, _a_incr},
    {"APPEND new", CC_OP_APPEND, 2, _a_key_val, _b_app_new, _k_app, _a_app},
    {"APPEND large to bytes", CC_OP_APPEND, 2, _a_key_val, _b_app_large, _k_app, _a_app},
    {"APPEND to stream", CC_OP_APPEND, 2, _a_key_val, _b_app_stream, _k_app, _a_app},
    {"GETRANGE", CC_OP_GETRANGE, 3, _a_key_u_u, _b_getrange, _k_getrange, _a_none},
    {"SCAN", CC_OP_SCAN, 3, _p_scan, _b_none, _k_scan, _a_none},
    {"STATS", CC_OP_STATS, 0, NULL, _b_none, _k_stats, _a_none},
    {"INFO", CC_OP_INFO, 0, NULL, _b_none, _k_info, _a_none},
    {"CONFIG_GET", CC_OP_CONFIG_GET, 0, NULL, _b_none, _k_config, _a_none},
    {"NAMESPACE new", CC_OP_NAMESPACE, 1, _a_str, _b_ns, _ok_status, _a_ns},
    {"FLUSH namespace", CC_OP_FLUSH, 1, _a_str, _b_flush, _k_flush, _a_flush},
    {"HELLO", CC_OP_HELLO, 1, _p_hello, _b_none, _k_hello, _a_none},
    {"CLUSTER_STATUS", CC_OP_CLUSTER_STATUS, 0, NULL, _b_none, _k_cluster, _a_none},
    {"LEASE_GET hit", CC_OP_LEASE_GET, 1, _a_key, _b_get_known, _k_get_known, _a_none},
    {"LEASE_GET miss", CC_OP_LEASE_GET, 1, _a_key, _b_lease_get, _k_lease_get, _a_none},
    {"LEASE_SET", CC_OP_LEASE_SET, 3, _p_lease_set, _b_lease_set, _k_set, _a_lease_set},
};

/* ---- the same against keys only the disk tier holds (cmd_tier.c: keys and chunks read
 * before a request runs again) ---- */

#define DISK_KEYS 1500 /* 6 MB through a 2 MiB memory tier */
#define DISK_LEN 4000
static int disk_next; /* the next key not used yet: the oldest are on disk */
static uint8_t *disk_val(int i) { return _pattern(DISK_LEN, 5000u + (unsigned)i); }
static char disk_keys[3][32];
static int disk_idx;

static void _b_disk(int iter, int nkeys)
{
    (void)iter;
    disk_idx = disk_next;
    for (int j = 0; j < nkeys; j++)
        snprintf(disk_keys[j], sizeof(disk_keys[j]), "d:%d", disk_next++);
    kstr = disk_keys[0];
}
static void _b_disk1(int iter) { _b_disk(iter, 1); }
static void _b_disk3(int iter) { _b_disk(iter, 3); }
static bool _k_disk_get(struct rep *r, int iter)
{
    (void)iter;
    uint8_t *v = disk_val(disk_idx);
    bool ok = _ok_item(r, v, DISK_LEN);
    free(v);
    return ok;
}
static void _p_disk_mget(msgpack_packer *pk, int iter)
{
    (void)iter;
    msgpack_pack_array(pk, 3);
    for (int j = 0; j < 3; j++)
        _pk_bin(pk, disk_keys[j], strlen(disk_keys[j]));
}
static bool _k_disk_mget(struct rep *r, int iter)
{
    (void)iter;
    uint32_t n, m;
    if (r->status != CC_OK || !mp_read_array(&r->res, &n) || n != 3)
        return false;
    for (int j = 0; j < 3; j++) {
        uint64_t type, version;
        int64_t ttl;
        const uint8_t *d;
        uint32_t dl;
        uint8_t *want = disk_val(disk_idx + j);
        bool ok = mp_read_array(&r->res, &m) && m == 4 && mp_read_uint(&r->res, &type) &&
                  mp_read_bytes(&r->res, &d, &dl) && dl == DISK_LEN &&
                  memcmp(d, want, dl) == 0 && mp_read_int(&r->res, &ttl) &&
                  mp_read_uint(&r->res, &version);
        free(want);
        if (!ok)
            return false;
    }
    return true;
}
static bool _k_disk_getrange(struct rep *r, int iter)
{
    (void)iter;
    const uint8_t *d;
    uint32_t dl;
    uint8_t *want = disk_val(disk_idx);
    bool ok = r->status == CC_OK && mp_read_bytes(&r->res, &d, &dl) && dl == u2 &&
              memcmp(d, want + u1, u2) == 0;
    free(want);
    return ok;
}
static void _b_disk_getrange(int iter)
{
    _b_disk(iter, 1);
    u1 = 100;
    u2 = 1000;
}
static void _b_disk_nx(int iter)
{
    _b_disk(iter, 1);
    vdata = (const uint8_t *)"new";
    vlen = 3;
    u1 = 0;
    u2 = CC_SET_NX;
}
static void _p_disk_nx(msgpack_packer *pk, int iter)
{
    _a_key_val(pk, iter);
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_uint64(pk, CC_SET_NX);
}
static bool _k_disk_nx(struct rep *r, int iter)
{
    (void)iter;
    return r->status == CC_NOT_STORED;
}
static bool _k_disk_exists(struct rep *r, int iter)
{
    (void)iter;
    return _ok_uint(r, 1);
}
static void _b_disk_append(int iter)
{
    _b_disk(iter, 1);
    free(app_head);
    free(app_data);
    app_head = disk_val(disk_idx);
    app_head_len = DISK_LEN;
    app_data = _pattern(100, (unsigned)iter);
    app_len = 100;
    vdata = app_data;
    vlen = app_len;
}
/* what a disk key holds after a request that must not change it */
static void _a_disk_same(int status, int iter)
{
    (void)status;
    (void)iter;
    uint8_t *v = disk_val(disk_idx);
    _expect(disk_keys[0], v, DISK_LEN, false);
    free(v);
}

static const struct nomem_case disk_cases[] = {
    {"GET from disk", CC_OP_GET, 1, _a_key, _b_disk1, _k_disk_get, _a_disk_same},
    {"MGET from disk", CC_OP_MGET, 1, _p_disk_mget, _b_disk3, _k_disk_mget, _a_none},
    {"GETRANGE from disk", CC_OP_GETRANGE, 3, _a_key_u_u, _b_disk_getrange, _k_disk_getrange,
     _a_disk_same},
    {"EXISTS on disk", CC_OP_EXISTS, 1, _a_key, _b_disk1, _k_disk_exists, _a_disk_same},
    {"SET NX of a disk key", CC_OP_SET, 4, _p_disk_nx, _b_disk_nx, _k_disk_nx, _a_disk_same},
    {"APPEND to a disk key", CC_OP_APPEND, 2, _a_key_val, _b_disk_append, _k_app, _a_app},
};

/* One case in one mode: k = 0, 1, ... Returns the allocations the request made (the first k
 * that failed none). */
static int _run_case(const struct nomem_case *c, uint32_t fail_n, int *nomem)
{
    for (int k = 0; k < MAX_SKIP; k++) {
        int iter = (fail_n == 1 ? 0 : 1000) + k;
        c->before(iter);
        const char *ks = kstr; /* the request's key: the checks after it use it too */
        assert_true(_fault("skip-allocs", (uint64_t)k) >= 0);
        assert_true(_fault("fail-allocs", fail_n) >= 0);
        struct rep r;
        _call(c->op, c->nargs, c->pack, iter, &r);
        int64_t left = _fault("fail-allocs", 0);
        assert_ptr_equal(kstr, ks);
        if (r.status == CC_E_NOMEM) {
            (*nomem)++;
        } else if (!c->ok(&r, iter)) {
            fprintf(stderr, "%s, allocation %d%s failed: status %lld, not the answer expected\n",
                    c->name, k + 1, fail_n == 1 ? "" : " on", (long long)r.status);
            fail();
        }
        int status = (int)r.status;
        _rep_free(&r);
        c->after(status, iter);
        _still_serving();
        if (left == (int64_t)fail_n)
            return k; /* nothing failed: the request made k allocations */
    }
    fprintf(stderr, "%s makes more than %d allocations: raise MAX_SKIP\n", c->name, MAX_SKIP);
    fail();
    return MAX_SKIP;
}

static void test_nomem_every_allocation(void **state)
{
    (void)state;
    const char *args[] = {"--threads", "2", NULL};
    h = harness_start(args);
    fd = harness_connect(h);
    assert_true(fd >= 0);
    if (_fault("fail-allocs", 0) < 0) {
        printf("# skipped: this cacheserverd has no FAULT op (configure with "
               "-Dfault_injection=true)\n");
        return; /* _teardown stops the server */
    }
    big = _pattern(BIG_LEN, 99);
    stream_data = _pattern(STREAM_LEN, 7);
    _set("known", known, sizeof(known) - 1);
    _set("big", big, BIG_LEN);
    for (size_t off = 0; off < STREAM_LEN; off += 100 * 1024) {
        size_t n = STREAM_LEN - off < 100 * 1024 ? STREAM_LEN - off : 100 * 1024;
        _append("stream", stream_data + off, n);
    }
    for (int i = 0; i < SCAN_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "scan:%d", i);
        _set(key, "s", 1);
    }
    for (int i = 0; i < MANY_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "many:%d", i);
        uint8_t *v = many_val(i);
        _set(key, v, MANY_LEN);
        free(v);
    }
    struct rep r;
    kstr = "ctr";
    i1 = 0;
    _call(CC_OP_INCR, 2, _a_key_int, 0, &r);
    assert_int_equal(r.status, CC_OK);
    _rep_free(&r);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int nomem1 = 0, nomem_all = 0;
        int allocs = _run_case(&cases[i], 1, &nomem1);
        _run_case(&cases[i], FAIL_ALL, &nomem_all);
        printf("# %-22s %2d allocations; E_NOMEM replies: %d failing one, %d failing the rest\n",
               cases[i].name, allocs, nomem1, nomem_all);
    }
    int64_t failed = _fault("skip-allocs", 0);
    printf("# %lld allocations failed in all\n", (long long)failed);
    assert_true(failed > 0);
    _still_serving();
    close(fd);
    fd = -1;
    /* a clean exit: under ASan, no leak left by an error path */
    int rc = harness_stop(h);
    if (rc != 0)
        harness_print_log(h, 60);
    assert_int_equal(rc, 0);
    harness_destroy(&h);
    free(big);
    free(stream_data);
    free(set_val);
    free(app_head);
    free(app_data);
    set_val = app_head = app_data = NULL;
}

static char base[256]; /* test_nomem_disk_tier's directory for the SSD tier */

/* After each test, also one that failed half-way: no server left running, no directory. */
static int _teardown(void **state)
{
    (void)state;
    if (fd >= 0)
        close(fd);
    fd = -1;
    if (h)
        harness_destroy(&h);
    if (base[0]) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        if (system(cmd) != 0)
            return -1;
        base[0] = '\0';
    }
    return 0;
}

static void test_nomem_disk_tier(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/nomem-ssd.XXXXXX", t ? t : "/tmp");
    assert_non_null(mkdtemp(base));
    char ssd[300];
    snprintf(ssd, sizeof(ssd), "%s/ssd", base);
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd, "--demote-unread", "true",
                          "--tier-queue", "100000", "--threads", "2", NULL};
    h = harness_start(args);
    fd = harness_connect(h);
    assert_true(fd >= 0);
    if (_fault("fail-allocs", 0) < 0) {
        printf("# skipped: this cacheserverd has no FAULT op (configure with "
               "-Dfault_injection=true)\n");
    } else {
        big = _pattern(BIG_LEN, 99);
        _set("known", known, sizeof(known) - 1);
        _set("big", big, BIG_LEN);
        for (int i = 0; i < DISK_KEYS; i++) {
            char key[32];
            snprintf(key, sizeof(key), "d:%d", i);
            uint8_t *v = disk_val(i);
            _set(key, v, DISK_LEN);
            free(v);
        }
        for (int i = 0; i < 3000 && harness_stat(h, "tier_queue_depth") != 0; i++)
            usleep(10000);
        uint64_t reads = harness_stat(h, "ssd_reads");
        for (size_t i = 0; i < sizeof(disk_cases) / sizeof(disk_cases[0]); i++) {
            int nomem1 = 0, nomem_all = 0;
            int allocs = _run_case(&disk_cases[i], 1, &nomem1);
            _run_case(&disk_cases[i], FAIL_ALL, &nomem_all);
            printf("# %-22s %2d allocations; E_NOMEM replies: %d failing one, %d failing the "
                   "rest\n", disk_cases[i].name, allocs, nomem1, nomem_all);
        }
        printf("# %d disk keys used, %llu SSD reads\n", disk_next,
               (unsigned long long)(harness_stat(h, "ssd_reads") - reads));
        printf("# %lld allocations failed in all\n", (long long)_fault("skip-allocs", 0));
        assert_true(disk_next < DISK_KEYS / 2); /* the oldest keys: on disk */
        assert_true(harness_stat(h, "ssd_reads") > reads);
        _still_serving();
        free(big);
        free(app_head);
        free(app_data);
        app_head = app_data = NULL;
    }
    close(fd);
    fd = -1;
    int rc = harness_stop(h);
    if (rc != 0)
        harness_print_log(h, 60);
    assert_int_equal(rc, 0);
    harness_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_nomem_every_allocation, _teardown),
        cmocka_unit_test_teardown(test_nomem_disk_tier, _teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
