/* SHM_REPORT (op 34, docs/shm-reads.md "Stats", docs/protocol.md) and the server side of the
 * shared-memory region, against real cacheserverd processes and raw frames:
 *   counts      a report of this run's region adds its hits to hits, ns.<name>.hits (two
 *               namespaces), shm.hits and shm.reports, exactly; a report with another
 *               region id is OK, counted in shm.reports_stale, and adds no hit.
 *   bad args    a namespace id the server does not have, 1025 namespaces, 9 bad hashes, a
 *               hits argument that is not a map: E_BAD_ARGS, nothing counted, and the
 *               connection goes on serving.
 *   info        INFO's shm_reads (bool) and shm_read_size (the region's bytes, shm.size; 0
 *               and false with the region off, where every report is stale).
 *   corrupt     (fault builds, else "# skipped") a key published (read twice), FAULT
 *               corrupt-shm 1, its hash reported: corrupt_values + 1, shm.entries - 1, and
 *               the item itself still reads right; the hash of a good published entry, or
 *               of nothing published, reported: nothing invalidated or counted.
 *   restart     kill -9 and a start on the same socket: the server logs that it waits before
 *               listening (a crashed predecessor's readers), and a clean restart does not.
 * The region id comes from the region itself: HELLO shm "r", its descriptor mapped read-only,
 * the header's region_id (common/shm_format.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient_protocol.h"
#include "harness.h"
#include "keyhash.h"
#include "mpread.h"
#include "shm_format.h"

static struct harness *srv;

static int group_teardown(void **state)
{
    (void)state;
    harness_destroy(&srv);
    return 0;
}

/* ---- raw requests ---- */

struct raw {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void _begin(struct raw *q, uint64_t op, uint32_t nargs)
{
    msgpack_sbuffer_init(&q->sb);
    msgpack_packer_init(&q->pk, &q->sb, msgpack_sbuffer_write);
    msgpack_pack_array(&q->pk, 2 + nargs);
    msgpack_pack_uint64(&q->pk, op);
    msgpack_pack_uint64(&q->pk, 77);
}

static void _pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

struct answer {
    uint64_t status;
    char msg[300];    /* an error's message */
    uint8_t *body;    /* the whole reply (free it with _done) */
    struct mp_cursor results; /* after [id, status */
};

/* Send q on s, read the reply. */
static struct answer _call(int s, struct raw *q)
{
    assert_int_equal(harness_send_frame(s, q->sb.data, q->sb.size), 0);
    msgpack_sbuffer_destroy(&q->sb);
    struct answer a = {0};
    size_t len;
    assert_int_equal(harness_recv_frame(s, &a.body, &len), 0);
    uint32_t n;
    uint64_t id;
    mp_cursor_init(&a.results, a.body, len);
    assert_true(mp_read_array(&a.results, &n) && n >= 2 && mp_read_uint(&a.results, &id) &&
                mp_read_uint(&a.results, &a.status));
    assert_int_equal(id, 77);
    struct mp_cursor c = a.results;
    const uint8_t *m;
    uint32_t ml;
    if (a.status >= 100 && mp_read_bytes(&c, &m, &ml))
        snprintf(a.msg, sizeof(a.msg), "%.*s", (int)ml, m);
    return a;
}

static void _done(struct answer *a) { free(a->body); }

/* The status of op with no arguments (PING, ...). */
static uint64_t _simple(int s, uint64_t op)
{
    struct raw q;
    _begin(&q, op, 0);
    struct answer a = _call(s, &q);
    _done(&a);
    return a.status;
}

/* SHM_REPORT region {ns[i]: n[i]} [bad...]: its status (an error's message in msg). */
static uint64_t _report(int s, uint64_t region, uint32_t nns, const uint64_t *ns,
                        const uint64_t *n, uint32_t nbad, const uint64_t *bad, char *msg,
                        size_t msglen)
{
    struct raw q;
    _begin(&q, CC_OP_SHM_REPORT, 3);
    msgpack_pack_uint64(&q.pk, region);
    msgpack_pack_map(&q.pk, nns);
    for (uint32_t i = 0; i < nns; i++) {
        msgpack_pack_uint64(&q.pk, ns[i]);
        msgpack_pack_uint64(&q.pk, n[i]);
    }
    msgpack_pack_array(&q.pk, nbad);
    for (uint32_t i = 0; i < nbad; i++)
        msgpack_pack_uint64(&q.pk, bad[i]);
    struct answer a = _call(s, &q);
    if (msg)
        snprintf(msg, msglen, "%s", a.msg);
    _done(&a);
    return a.status;
}

/* An empty report of region: answered [id, OK], no results. */
static void _expect_ok_no_results(int s, uint64_t region)
{
    struct raw q;
    _begin(&q, CC_OP_SHM_REPORT, 3);
    msgpack_pack_uint64(&q.pk, region);
    msgpack_pack_map(&q.pk, 0);
    msgpack_pack_array(&q.pk, 0);
    assert_int_equal(harness_send_frame(s, q.sb.data, q.sb.size), 0);
    msgpack_sbuffer_destroy(&q.sb);
    uint8_t *body;
    size_t len;
    assert_int_equal(harness_recv_frame(s, &body, &len), 0);
    struct mp_cursor c;
    uint32_t n;
    mp_cursor_init(&c, body, len);
    assert_true(mp_read_array(&c, &n));
    assert_int_equal(n, 2); /* [id, OK] */
    free(body);
}

/* FAULT what n: its count, or -1 when the server has no FAULT op. */
static int64_t _fault(int s, const char *what, uint64_t n)
{
    struct raw q;
    _begin(&q, CC_OP_FAULT, 2);
    _pk_str(&q.pk, what);
    msgpack_pack_uint64(&q.pk, n);
    struct answer a = _call(s, &q);
    uint64_t v = 0;
    int64_t out = a.status == CC_OK && mp_read_uint(&a.results, &v) ? (int64_t)v : -1;
    _done(&a);
    return out;
}

/* NAMESPACE name on s. */
static void _namespace(int s, const char *name)
{
    struct raw q;
    _begin(&q, CC_OP_NAMESPACE, 1);
    _pk_str(&q.pk, name);
    struct answer a = _call(s, &q);
    assert_int_equal(a.status, CC_OK);
    _done(&a);
}

static void _set(int s, const char *key, const char *val)
{
    struct raw q;
    _begin(&q, CC_OP_SET, 2);
    _pk_str(&q.pk, key);
    _pk_str(&q.pk, val);
    struct answer a = _call(s, &q);
    assert_int_equal(a.status, CC_OK);
    _done(&a);
}

/* GET key: asserts it holds val. */
static void _get_is(int s, const char *key, const char *val)
{
    struct raw q;
    _begin(&q, CC_OP_GET, 1);
    _pk_str(&q.pk, key);
    struct answer a = _call(s, &q);
    assert_int_equal(a.status, CC_OK);
    uint64_t type;
    const uint8_t *v;
    uint32_t vl;
    assert_true(mp_read_uint(&a.results, &type) && mp_read_bytes(&a.results, &v, &vl));
    assert_int_equal(type, CC_TYPE_BYTES);
    assert_int_equal(vl, strlen(val));
    assert_memory_equal(v, val, vl);
    _done(&a);
}

/* INFO's shm_reads (-1: absent or not a bool) and shm_read_size (UINT64_MAX: absent). */
static void _info_shm(int s, int *reads, uint64_t *size)
{
    struct raw q;
    _begin(&q, CC_OP_INFO, 0);
    struct answer a = _call(s, &q);
    assert_int_equal(a.status, CC_OK);
    uint32_t n;
    assert_true(mp_read_map(&a.results, &n));
    *reads = -1;
    *size = UINT64_MAX;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        bool b;
        assert_true(mp_read_bytes(&a.results, &k, &kl));
        if (kl == 9 && !memcmp(k, "shm_reads", 9)) {
            if (mp_read_bool(&a.results, &b))
                *reads = b;
            else
                assert_true(mp_skip_any(&a.results, 8));
        } else if (kl == 13 && !memcmp(k, "shm_read_size", 13)) {
            assert_true(mp_read_uint(&a.results, size));
        } else {
            assert_true(mp_skip_any(&a.results, 8));
        }
    }
    _done(&a);
}

/* ---- the region's id: HELLO shm "r", the descriptor mapped read-only ---- */

/* recv into buf, keeping the first descriptor that comes with the bytes in *fd. */
static ssize_t _recv_fd(int s, uint8_t *buf, size_t n, int *fd)
{
    char ctl[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = {buf, n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof(ctl)};
    ssize_t r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); r >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int got;
                memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (*fd < 0)
                    *fd = got;
                else
                    close(got);
            }
        }
    return r;
}

static void _recv_all(int s, uint8_t *buf, size_t n, int *fd)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = _recv_fd(s, buf + got, n - got, fd);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* The region id of h's server (its header's region_id), read through the descriptor a HELLO
 * with shm "r" brings. 0 when HELLO brought none. */
static uint64_t _region_id(const struct harness *h)
{
    int s = harness_connect(h);
    assert_true(s >= 0);
    struct raw q;
    _begin(&q, CC_OP_HELLO, 2);
    msgpack_pack_uint64(&q.pk, CC_PROTOCOL_VERSION);
    msgpack_pack_map(&q.pk, 1);
    _pk_str(&q.pk, "shm");
    _pk_str(&q.pk, "r");
    assert_int_equal(harness_send_frame(s, q.sb.data, q.sb.size), 0);
    msgpack_sbuffer_destroy(&q.sb);
    int fd = -1;
    uint8_t hdr[CC_FRAME_HEADER_SIZE];
    _recv_all(s, hdr, sizeof(hdr), &fd);
    size_t len = cc_be32_read(hdr);
    uint8_t *body = malloc(len);
    assert_non_null(body);
    _recv_all(s, body, len, &fd);
    free(body);
    close(s);
    if (fd < 0)
        return 0;
    void *p = mmap(NULL, SHM_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);
    const struct shm_header *sh = p;
    assert_int_equal(sh->magic, SHM_MAGIC);
    uint64_t id = sh->region_id;
    munmap(p, SHM_HEADER_SIZE);
    close(fd);
    assert_int_not_equal(id, 0);
    return id;
}

/* ---- the counters ---- */

struct counts {
    uint64_t hits, def, other, shm_hits, reports, stale;
};

static struct counts _counts(void)
{
    struct counts c = {
        .hits = harness_stat(srv, "hits"),
        .def = harness_stat(srv, "ns.default.hits"),
        .other = harness_stat(srv, "ns.other.hits"),
        .shm_hits = harness_stat(srv, "shm.hits"),
        .reports = harness_stat(srv, "shm.reports"),
        .stale = harness_stat(srv, "shm.reports_stale"),
    };
    return c;
}

static void _same_counts(const struct counts *a, const struct counts *b)
{
    assert_int_equal(a->hits, b->hits);
    assert_int_equal(a->def, b->def);
    assert_int_equal(a->other, b->other);
    assert_int_equal(a->shm_hits, b->shm_hits);
    assert_int_equal(a->reports, b->reports);
}

static const char *const region_args[] = {"--memory", "64MiB", "--shm-reads", "true", NULL};

static void test_shm_report_counts(void **state)
{
    (void)state;
    srv = harness_start(region_args);
    int s = harness_connect(srv);
    assert_true(s >= 0);
    _namespace(s, "other"); /* id 1 */
    _namespace(s, "");
    uint64_t region = _region_id(srv);
    assert_int_not_equal(region, 0);

    struct counts c0 = _counts();
    uint64_t ns[] = {0, 1}, n[] = {5, 7};
    assert_int_equal(_report(s, region, 2, ns, n, 0, NULL, NULL, 0), CC_OK);
    struct counts c1 = _counts();
    assert_int_equal(c1.hits, c0.hits + 12);
    assert_int_equal(c1.def, c0.def + 5);
    assert_int_equal(c1.other, c0.other + 7);
    assert_int_equal(c1.shm_hits, c0.shm_hits + 12);
    assert_int_equal(c1.reports, c0.reports + 1);
    assert_int_equal(c1.stale, c0.stale);

    /* a namespace twice in one map: both counts */
    uint64_t ns2[] = {1, 1}, n2[] = {2, 3};
    assert_int_equal(_report(s, region, 2, ns2, n2, 0, NULL, NULL, 0), CC_OK);
    struct counts c2 = _counts();
    assert_int_equal(c2.other, c1.other + 5);
    assert_int_equal(c2.hits, c1.hits + 5);
    assert_int_equal(c2.shm_hits, c1.shm_hits + 5);
    assert_int_equal(c2.reports, c1.reports + 1);

    /* an empty report counts as a report, and OK carries no results */
    _expect_ok_no_results(s, region);
    struct counts c3 = _counts();
    assert_int_equal(c3.reports, c2.reports + 1);
    assert_int_equal(c3.hits, c2.hits);

    /* another run's region: OK, stale, nothing added (its ids may be other namespaces, or
     * none here: ns 900 is not an error) */
    uint64_t ns4[] = {0, 900}, n4[] = {100, 100};
    assert_int_equal(_report(s, region ^ 1, 2, ns4, n4, 0, NULL, NULL, 0), CC_OK);
    assert_int_equal(_report(s, 0, 2, ns4, n4, 0, NULL, NULL, 0), CC_OK);
    struct counts c4 = _counts();
    _same_counts(&c3, &c4);
    assert_int_equal(c4.stale, c3.stale + 2);
    close(s);
    harness_destroy(&srv);
}

static void test_shm_report_bad_args(void **state)
{
    (void)state;
    srv = harness_start(region_args);
    int s = harness_connect(srv);
    assert_true(s >= 0);
    _namespace(s, "other");
    _namespace(s, "");
    uint64_t region = _region_id(srv);
    struct counts c0 = _counts();
    char msg[300];

    /* a namespace id this server does not have (2 of 0..1), after a good one */
    uint64_t ns[] = {0, 2}, n[] = {3, 4};
    assert_int_equal(_report(s, region, 2, ns, n, 0, NULL, msg, sizeof(msg)), CC_E_BAD_ARGS);
    assert_non_null(strstr(msg, "namespace id 2"));
    assert_int_equal(_simple(s, CC_OP_PING), CC_OK);

    /* 1025 namespaces (ids 0 and 1 repeated: only the count is wrong) */
    static uint64_t many_ns[CC_SHM_REPORT_MAX_NS + 1], many_n[CC_SHM_REPORT_MAX_NS + 1];
    for (uint32_t i = 0; i <= CC_SHM_REPORT_MAX_NS; i++) {
        many_ns[i] = i % 2;
        many_n[i] = 1;
    }
    assert_int_equal(_report(s, region, CC_SHM_REPORT_MAX_NS + 1, many_ns, many_n, 0, NULL, msg,
                             sizeof(msg)),
                     CC_E_BAD_ARGS);
    assert_non_null(strstr(msg, "1025"));
    assert_int_equal(_simple(s, CC_OP_PING), CC_OK);
    /* 1024 is allowed */
    assert_int_equal(
        _report(s, region, CC_SHM_REPORT_MAX_NS, many_ns, many_n, 0, NULL, NULL, 0), CC_OK);
    struct counts c1 = _counts();
    assert_int_equal(c1.hits, c0.hits + CC_SHM_REPORT_MAX_NS);
    assert_int_equal(c1.shm_hits, c0.shm_hits + CC_SHM_REPORT_MAX_NS);
    assert_int_equal(c1.reports, c0.reports + 1);

    /* 9 bad hashes, with hits that must not count */
    uint64_t bad[CC_SHM_REPORT_MAX_BAD + 1];
    for (uint32_t i = 0; i <= CC_SHM_REPORT_MAX_BAD; i++)
        bad[i] = 0x1234567890abcdefull + i;
    uint64_t ns1[] = {0}, n1[] = {9};
    assert_int_equal(
        _report(s, region, 1, ns1, n1, CC_SHM_REPORT_MAX_BAD + 1, bad, msg, sizeof(msg)),
        CC_E_BAD_ARGS);
    assert_non_null(strstr(msg, "at most 8"));
    assert_int_equal(_simple(s, CC_OP_PING), CC_OK);
    /* 8 hashes of nothing published: OK, and the hits count */
    assert_int_equal(_report(s, region, 1, ns1, n1, CC_SHM_REPORT_MAX_BAD, bad, NULL, 0),
                     CC_OK);
    struct counts c2 = _counts();
    assert_int_equal(c2.hits, c1.hits + 9);
    assert_int_equal(c2.reports, c1.reports + 1);

    /* arguments of the wrong types or count */
    struct raw q;
    _begin(&q, CC_OP_SHM_REPORT, 3);
    msgpack_pack_uint64(&q.pk, region);
    msgpack_pack_array(&q.pk, 0); /* hits must be a map */
    msgpack_pack_array(&q.pk, 0);
    struct answer a = _call(s, &q);
    assert_int_equal(a.status, CC_E_BAD_ARGS);
    assert_non_null(strstr(a.msg, "SHM_REPORT takes"));
    _done(&a);
    _begin(&q, CC_OP_SHM_REPORT, 2);
    msgpack_pack_uint64(&q.pk, region);
    msgpack_pack_map(&q.pk, 0);
    a = _call(s, &q);
    assert_int_equal(a.status, CC_E_BAD_ARGS);
    _done(&a);
    _begin(&q, CC_OP_SHM_REPORT, 3);
    msgpack_pack_uint64(&q.pk, region);
    msgpack_pack_map(&q.pk, 1);
    msgpack_pack_uint64(&q.pk, 0);
    msgpack_pack_int64(&q.pk, -5); /* a count must be a uint */
    msgpack_pack_array(&q.pk, 0);
    a = _call(s, &q);
    assert_int_equal(a.status, CC_E_BAD_ARGS);
    _done(&a);

    struct counts c3 = _counts();
    _same_counts(&c2, &c3);
    assert_int_equal(c3.stale, c0.stale);
    assert_int_equal(_simple(s, CC_OP_PING), CC_OK);
    close(s);
    harness_destroy(&srv);
}

static void test_shm_report_info(void **state)
{
    (void)state;
    srv = harness_start(region_args);
    int s = harness_connect(srv);
    int reads;
    uint64_t size;
    _info_shm(s, &reads, &size);
    assert_int_equal(reads, 1);
    assert_int_not_equal(size, 0);
    assert_int_equal(size, harness_stat(srv, "shm.size"));
    close(s);
    harness_destroy(&srv);

    /* a region, shm-reads off: false, and the size still shown */
    const char *off[] = {"--memory", "64MiB", "--shm-reads", "false", NULL};
    srv = harness_start(off);
    s = harness_connect(srv);
    _info_shm(s, &reads, &size);
    assert_int_equal(reads, 0);
    assert_int_equal(size, harness_stat(srv, "shm.size"));
    close(s);
    harness_destroy(&srv);

    /* no region: size 0, and every report is stale */
    const char *none[] = {"--memory", "64MiB", "--shm-reads", "true", "--shm-read-size", "0",
                          NULL};
    srv = harness_start(none);
    s = harness_connect(srv);
    _info_shm(s, &reads, &size);
    assert_int_equal(reads, 1);
    assert_int_equal(size, 0);
    assert_int_equal(_region_id(srv), 0);
    uint64_t ns[] = {0}, n[] = {4};
    uint64_t h0 = harness_stat(srv, "hits");
    assert_int_equal(_report(s, 0, 1, ns, n, 0, NULL, NULL, 0), CC_OK);
    assert_int_equal(_report(s, 12345, 1, ns, n, 0, NULL, NULL, 0), CC_OK);
    assert_int_equal(harness_stat(srv, "shm.reports_stale"), 2);
    assert_int_equal(harness_stat(srv, "shm.reports"), 0);
    assert_int_equal(harness_stat(srv, "hits"), h0);
    close(s);
    harness_destroy(&srv);
}

/* Wait (up to 5 s) until STATS name is want. */
static void _wait_stat(const char *name, uint64_t want)
{
    for (int i = 0; i < 500; i++) {
        if (harness_stat(srv, name) == want)
            return;
        struct timespec t = {0, 10 * 1000000L};
        nanosleep(&t, NULL);
    }
    fail_msg("%s stayed %llu, not %llu", name, (unsigned long long)harness_stat(srv, name),
             (unsigned long long)want);
}

static void test_shm_report_corrupt(void **state)
{
    (void)state;
    srv = harness_start(region_args);
    int s = harness_connect(srv);
    if (_fault(s, "fail-allocs", 0) < 0) {
        printf("# skipped: this cacheserverd has no FAULT op (configure with "
               "-Dfault_injection=true)\n");
        close(s);
        harness_destroy(&srv);
        return;
    }
    uint64_t region = _region_id(srv);
    /* two keys published: each read twice through the socket */
    const char *keys[] = {"bad-key", "good-key"};
    for (int k = 0; k < 2; k++) {
        _set(s, keys[k], "a value to copy into the region");
        _get_is(s, keys[k], "a value to copy into the region");
        _get_is(s, keys[k], "a value to copy into the region");
        _wait_stat("shm.entries", (uint64_t)k + 1);
    }
    uint64_t hbad = cc_key_hash(0, keys[0], strlen(keys[0]));
    uint64_t hgood = cc_key_hash(0, keys[1], strlen(keys[1]));
    uint64_t corrupt0 = harness_stat(srv, "corrupt_values");

    /* a good entry reported, and a hash of nothing published: nothing happens */
    uint64_t nothing = cc_key_hash(0, "never-published", 15);
    uint64_t both[] = {hgood, hbad, nothing};
    assert_int_equal(_report(s, region, 0, NULL, NULL, 3, both, NULL, 0), CC_OK);
    assert_int_equal(harness_stat(srv, "shm.entries"), 2);
    assert_int_equal(harness_stat(srv, "corrupt_values"), corrupt0);

    /* one entry's value byte flipped in the region: the first valid slot, which is one of
     * the two; report both, only the one that fails the server's check goes */
    assert_int_equal(_fault(s, "corrupt-shm", 1), 1);
    assert_int_equal(_report(s, region, 0, NULL, NULL, 2, both, NULL, 0), CC_OK);
    assert_int_equal(harness_stat(srv, "corrupt_values"), corrupt0 + 1);
    assert_int_equal(harness_stat(srv, "shm.entries"), 1);
    assert_true(harness_log_contains(srv, "the copy is invalidated"));
    /* the items themselves were never touched: both still read right, and the one whose
     * copy went is published again (read since the hand passed), from the intact item */
    _get_is(s, keys[0], "a value to copy into the region");
    _get_is(s, keys[1], "a value to copy into the region");
    _wait_stat("shm.entries", 2);
    /* both reported again: both good now, nothing invalidated */
    assert_int_equal(_report(s, region, 0, NULL, NULL, 2, both, NULL, 0), CC_OK);
    assert_int_equal(harness_stat(srv, "corrupt_values"), corrupt0 + 1);
    assert_int_equal(harness_stat(srv, "shm.entries"), 2);
    /* a stale report's hashes are not checked */
    assert_int_equal(_fault(s, "corrupt-shm", 1), 1);
    assert_int_equal(_report(s, region ^ 1, 0, NULL, NULL, 2, both, NULL, 0), CC_OK);
    assert_int_equal(harness_stat(srv, "shm.entries"), 2);
    assert_int_equal(harness_stat(srv, "corrupt_values"), corrupt0 + 1);
    /* with the right id, it goes */
    assert_int_equal(_report(s, region, 0, NULL, NULL, 2, both, NULL, 0), CC_OK);
    assert_int_equal(harness_stat(srv, "shm.entries"), 1);
    assert_int_equal(harness_stat(srv, "corrupt_values"), corrupt0 + 2);
    /* corrupt-shm flips at most as many as are published: the one left */
    assert_int_equal(_fault(s, "corrupt-shm", 5), 1);
    assert_int_equal(_report(s, region, 0, NULL, NULL, 2, both, NULL, 0), CC_OK);
    assert_int_equal(harness_stat(srv, "shm.entries"), 0);
    assert_int_equal(harness_stat(srv, "corrupt_values"), corrupt0 + 3);
    assert_int_equal(_fault(s, "corrupt-shm", 5), 0);
    assert_int_equal(_simple(s, CC_OP_PING), CC_OK);
    close(s);
    harness_destroy(&srv);
}

static void test_shm_restart_wait(void **state)
{
    (void)state;
    srv = harness_start(region_args);
    const char *why = "stop trusting its region";
    assert_false(harness_log_contains(srv, why));
    harness_restart(srv); /* a clean stop removes its socket: no wait */
    assert_false(harness_log_contains(srv, why));
    harness_kill(srv, SIGKILL); /* the socket file stays */
    harness_respawn(srv);
    assert_true(harness_log_contains(srv, "removed stale socket"));
    assert_true(harness_log_contains(srv, why));
    harness_destroy(&srv);

    /* no region of its own: it waits too (its predecessor may have had one) */
    const char *none[] = {"--memory", "64MiB", "--shm-read-size", "0", NULL};
    srv = harness_start(none);
    harness_kill(srv, SIGKILL);
    harness_respawn(srv);
    assert_true(harness_log_contains(srv, "removed stale socket"));
    assert_true(harness_log_contains(srv, why));
    harness_destroy(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shm_report_counts),  cmocka_unit_test(test_shm_report_bad_args),
        cmocka_unit_test(test_shm_report_info),    cmocka_unit_test(test_shm_report_corrupt),
        cmocka_unit_test(test_shm_restart_wait),
    };
    return cmocka_run_group_tests_name("shm_report", tests, NULL, group_teardown);
}
