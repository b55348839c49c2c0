/* Disk faults in a real cacheserverd: the SSD tier on a small tmpfs fills up. The server
 * never fails a request for it, logs the fault, marks the tier degraded, keeps serving from
 * memory, and reopens the tier by itself once the disk takes writes again; what it persisted
 * after that survives a restart. The accounting tests (issue 14): under an ssd-size far
 * above the file system's, the tier counts and indexes only records it holds, before,
 * during and after such a fault. Needs to mount a tmpfs (root): where that is not allowed
 * the test says so and is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"
#include "harness.h"
#include "tier_client.h"

#define VLEN 1000

static char dir[256], disk[300];
static int mounted;
static struct harness *srv; /* the accounting tests' server: cleanup stops it before umount */

static double _now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int _sh(const char *fmt, const char *arg)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg);
    return system(cmd);
}

static void _write(cc_client *c, const char *prefix, int from, int to)
{
    char key[48], val[VLEN];
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        memset(val, 'a' + i % 26, VLEN);
        cc_value v = cc_value_bytes(val, VLEN);
        int rc = cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL);
        if (rc != CC_OK) /* a disk fault never fails a request */
            fail_msg("SET %s: %s (%s)", key, cc_strstatus(rc), cc_errmsg(c));
    }
}

static void _wait_log(struct harness *h, const char *needle)
{
    for (int i = 0; i < 100 && !harness_log_contains(h, needle); i++)
        usleep(100000);
    if (!harness_log_contains(h, needle)) {
        harness_print_log(h, 20);
        fail_msg("the log never said '%s'", needle);
    }
}

static void test_full_disk_and_recovery(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/tier-fault.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(disk, sizeof(disk), "%s/disk", dir);
    assert_int_equal(_sh("mkdir -p '%s'", disk), 0);
    if (_sh("mount -t tmpfs -o size=8m tmpfs '%s' 2>/dev/null", disk) != 0) {
        printf("# skipped: cannot mount a tmpfs here (needs root)\n");
        skip();
    }
    mounted = 1;
    /* 3 MiB of ballast: removing it later gives the disk room again */
    assert_int_equal(_sh("dd if=/dev/zero of='%s/ballast' bs=1M count=3 2>/dev/null", disk), 0);
    char ssd[320];
    snprintf(ssd, sizeof(ssd), "%s/ssd", disk);
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd, "--persist", "async",
                          "--tier-compress-threshold", "1000000", "--threads", "2", NULL};
    struct harness *h = harness_start(args);
    cc_client *c = tier_client(h);

    /* 20 MB into an 8 MiB disk: it fills; every SET still succeeds */
    _write(c, "full", 0, 20000);
    _wait_log(h, "marked degraded");
    assert_true(harness_stat(h, "disk_errors") > 0);
    assert_true(harness_stat(h, "persist_dropped") > 0);
    assert_int_equal(harness_ping(h), 0);
    cc_item it = {0};
    assert_int_equal(cc_get(c, "full:19999", 10, &it), CC_OK); /* memory still serves */
    assert_int_equal(it.value.len, VLEN);
    cc_item_release(&it);

    /* room again: the tier reopens by itself and persists again */
    assert_int_equal(_sh("rm -f '%s/ballast'", disk), 0);
    _wait_log(h, "reopened after the fault");
    uint64_t written = harness_stat(h, "persist_writes");
    _write(c, "after", 0, 300);
    for (int i = 0; i < 50 && harness_stat(h, "persist_writes") < written + 300; i++)
        usleep(100000);
    assert_true(harness_stat(h, "persist_writes") >= written + 300);

    cc_client_destroy(&c);

    /* what was persisted after the recovery survives a restart */
    harness_restart(h);
    c = tier_client(h);
    char key[48];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "after:%d", i);
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc != CC_OK)
            fail_msg("%s after restart: %s", key, cc_strstatus(rc));
        cc_item_release(&it);
    }
    cc_client_destroy(&c);
    harness_destroy(&h);
}

/* ---- a full disk under a much larger ssd-size: the tier's accounting ---- */

#define BIG 16384 /* value size of the accounting test */

/* Value i of the accounting test: its index first, so a wrong record is told apart. */
static void _big_value(char *val, int i)
{
    memset(val, 'a' + i % 26, BIG);
    snprintf(val, 16, "%d:", i);
}

static void _write_big(cc_client *c, const char *prefix, int from, int to)
{
    static char val[BIG];
    char key[48];
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        _big_value(val, i);
        cc_value v = cc_value_bytes(val, BIG);
        int rc = cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL);
        if (rc != CC_OK) /* a disk fault never fails a request */
            fail_msg("SET %s: %s (%s)", key, cc_strstatus(rc), cc_errmsg(c));
    }
}

/* GET prefix:i: 1 the right value, 0 a miss; anything else fails the test. */
static int _read_big(cc_client *c, const char *prefix, int i)
{
    static char want[BIG];
    char key[48];
    snprintf(key, sizeof(key), "%s:%d", prefix, i);
    cc_item it = {0};
    int rc = cc_get(c, key, strlen(key), &it);
    if (rc == CC_NOT_FOUND)
        return 0;
    if (rc != CC_OK)
        fail_msg("GET %s: %s (%s): a disk fault must read as a miss, never an error", key,
                 cc_strstatus(rc), cc_errmsg(c));
    _big_value(want, i);
    int same = it.value.len == BIG && memcmp(it.value.data, want, BIG) == 0;
    cc_item_release(&it);
    if (!same)
        fail_msg("GET %s: a wrong value", key);
    return 1;
}

/* A string or number of INFO (tier.ssd.health), into out; false when absent. */
static bool _info(cc_client *c, const char *name, char *out, size_t outlen)
{
    cc_item it = {0};
    if (cc_info(c, &it) != CC_OK)
        return false;
    cc_reader r;
    cc_reader_init(&r, it.value.data, it.value.len);
    uint32_t n;
    bool found = false;
    if (cc_read_map(&r, &n))
        for (uint32_t i = 0; i < n && !found; i++) {
            const uint8_t *k, *s;
            uint32_t kl, sl;
            uint64_t u;
            bool b;
            if (!cc_read_bytes(&r, &k, &kl))
                break;
            bool match = kl == strlen(name) && memcmp(k, name, kl) == 0;
            if (cc_read_uint(&r, &u)) {
                if (match)
                    snprintf(out, outlen, "%llu", (unsigned long long)u);
            } else if (cc_read_bytes(&r, &s, &sl)) {
                if (match)
                    snprintf(out, outlen, "%.*s", (int)sl, s);
            } else if (!cc_read_bool(&r, &b)) {
                break; /* INFO holds only numbers, strings and booleans */
            }
            found = match;
        }
    cc_item_release(&it);
    return found;
}

/* Bytes in use on the file system at path. */
static uint64_t _fs_used(const char *path)
{
    struct statvfs v;
    assert_int_equal(statvfs(path, &v), 0);
    return (uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize;
}

/* Wait until the writer has written what was queued: the queue empty, and no batch written
 * for 300 ms (the last one taken may still be under way, and a flush or compaction with it). */
static void _drain(struct harness *h)
{
    uint64_t batches = UINT64_MAX;
    for (int i = 0, still = 0; i < 300 && still < 3; i++) {
        usleep(100000);
        uint64_t b = harness_stat(h, "persist_batches");
        still = harness_stat(h, "tier_queue_depth") == 0 && b == batches ? still + 1 : 0;
        batches = b;
    }
}

#define FS_MB 32
#define BALLAST_MB 4
/* ssd_bytes may pass the file system's usage by the records RocksDB holds in memtables, not
 * yet in a file (written without the write-ahead log): the writer flushes them once they
 * hold an eighth of the tier's room (files plus free space), 3.5 MiB here, plus a batch. */
#define SLACK (8u << 20)

struct acct {
    uint64_t items, used, disk, fs, errors;
};

/* The tier's numbers now (fs: bytes in use on the file system, less `other`). */
static struct acct _acct(struct harness *h, uint64_t other)
{
    struct acct a = {harness_stat(h, "ssd_items"), harness_stat(h, "ssd_bytes"),
                     harness_stat(h, "ssd_disk_bytes"), _fs_used(disk) - other,
                     harness_stat(h, "disk_errors")};
    return a;
}

static void _print_acct(const char *persist, const char *when, const struct acct *a)
{
    printf("# persist %s, %s: ssd_items %llu, ssd_bytes (tier.ssd.used) %llu, ssd_disk_bytes "
           "%llu, file system holds %llu, disk_errors %llu\n",
           persist, when, (unsigned long long)a->items, (unsigned long long)a->used,
           (unsigned long long)a->disk, (unsigned long long)a->fs, (unsigned long long)a->errors);
}

/* The keys the index claims read back: GET every key written (prefix:0..n-1 for each
 * prefix); each is the right value or a miss, never an error, and no fewer read back than
 * ssd_items (read before) says are on disk, less 5% (hits from memory, which holds about 120
 * of them, only make the check more lenient). A GET of a key the index claims but the disk
 * lacks answers a miss and drops the claim. Returns whether it held (printed either way). */
static bool _claims_hold(const char *persist, const char *when, cc_client *c,
                         const char *const *prefix, const int *n, uint64_t items)
{
    int hits = 0, all = 0;
    for (int p = 0; prefix[p]; p++)
        for (int i = 0; i < n[p]; i++, all++)
            hits += _read_big(c, prefix[p], i);
    printf("# persist %s, %s: %d of %d keys read back; the index claimed %llu on disk\n",
           persist, when, hits, all, (unsigned long long)items);
    return (uint64_t)hits + items / 20 >= items;
}

/* The issue-14 scenario: a 32 MiB file system under a 1 GiB ssd-size, written five times past
 * full (persist = off: demotions, written without the write-ahead log; async: every change).
 * The tier may count (ssd_bytes, INFO tier.ssd.used) and index (ssd_items) only records that
 * were written: they must fit in the file system, and the keys the index claims must read
 * back. Then the disk fills up (a fault: the tier is degraded, requests are still served),
 * gets room again, and the tier recovers by itself, with what it had made durable. */
static void _full_disk_accounting(const char *persist, const char *backend)
{
    double t0 = _now();
    bool durable = strcmp(persist, "off") != 0;
    snprintf(dir, sizeof(dir), "%s/tier-acct.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(disk, sizeof(disk), "%s/disk", dir);
    assert_int_equal(_sh("mkdir -p '%s'", disk), 0);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=%dm tmpfs '%%s' 2>/dev/null", FS_MB);
    if (_sh(cmd, disk) != 0) {
        printf("# skipped: cannot mount a tmpfs here (needs root)\n");
        skip();
    }
    mounted = 1;
    /* another user of the file system */
    snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of='%%s/ballast' bs=1M count=%d 2>/dev/null",
             BALLAST_MB);
    assert_int_equal(_sh(cmd, disk), 0);
    uint64_t ballast = (uint64_t)BALLAST_MB << 20, fs_total = (uint64_t)FS_MB << 20;
    char ssd[320];
    snprintf(ssd, sizeof(ssd), "%s/ssd", disk);
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd, "--ssd-size", "1GiB",
                          "--persist", persist, "--demote-unread", "true",
                          "--tier-compress-threshold", "1000000", "--threads", "2",
                          "--ssd-backend", backend, NULL};
    struct harness *h = srv = harness_start(args);
    cc_client *c = tier_client(h);

    /* 1. 160 MB through the tier */
    const int n = 10000;
    _write_big(c, "acct", 0, n);
    _drain(h);
    struct acct a = _acct(h, ballast);
    _print_acct(persist, "160 MB written", &a);
    printf("# (%.1f s)\n", _now() - t0);
    const char *acct[] = {"acct", NULL};
    const int nacct[] = {n};
    bool claims = _claims_hold(persist, "160 MB written", c, acct, nacct, a.items);
    if (a.used > a.fs + SLACK || a.used > fs_total)
        fail_msg("persist %s: ssd_bytes %llu, but the file system holds %llu", persist,
                 (unsigned long long)a.used, (unsigned long long)a.fs);
    assert_true(claims);

    /* 2. a fault: the file system fills up */
    const int ndur = 100;
    if (durable) {
        /* acknowledged and on disk (async: within persist_sync_ms) before it; in a tier that
         * has room for them (else the coldest leave it to make room, fault or not) */
        assert_int_equal(cc_flush(c, NULL, NULL), CC_OK);
        _write_big(c, "dur", 0, ndur);
        _drain(h);
        usleep(1500000);
        int back = 0;
        for (int i = 0; i < ndur; i++)
            back += _read_big(c, "dur", i);
        assert_int_equal(back, ndur);
    }
    /* until the disk is full; again while the tier's compactions free some of it */
    uint64_t errors = harness_stat(h, "disk_errors");
    int nfault = 0;
    for (int round = 0; round < 40 && harness_stat(h, "disk_errors") == errors; round++) {
        snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of='%%s/fill%d' bs=16k 2>/dev/null", round);
        _sh(cmd, disk);
        _write_big(c, "fault", nfault, nfault + 200); /* every SET still succeeds */
        nfault += 200;
        _drain(h);
    }
    _wait_log(h, "marked degraded");
    assert_true(harness_stat(h, "disk_errors") > errors);
    assert_int_equal(_read_big(c, "fault", nfault - 1), 1); /* memory serves */
    a = _acct(h, ballast);
    _print_acct(persist, "disk full", &a);
    printf("# persist %s: the disk filled up after %d more keys\n", persist, nfault);
    assert_true(a.used <= fs_total);
    const char *all[] = {"acct", "fault", durable ? "dur" : NULL, NULL};
    const int nall[] = {n, nfault, ndur};
    assert_true(_claims_hold(persist, "disk full", c, all, nall, a.items));

    /* 3. room again: the tier recovers by itself */
    assert_int_equal(_sh("rm -f '%s'/fill* '%s/ballast'", disk), 0);
    char health[32] = "";
    for (int i = 0; i < 100; i++) {
        if (_info(c, "tier.ssd.health", health, sizeof(health)) && !strcmp(health, "ok"))
            break;
        usleep(100000);
    }
    assert_string_equal(health, "ok");
    if (durable) { /* nothing it had made durable is lost */
        int back = 0;
        for (int i = 0; i < ndur; i++)
            back += _read_big(c, "dur", i);
        printf("# persist %s: %d of %d keys made durable before the fault read back after it\n",
               persist, back, ndur);
        assert_int_equal(back, ndur);
    }
    errors = harness_stat(h, "disk_errors");
    uint64_t wrote = harness_stat(h, "demotions") + harness_stat(h, "persist_writes");
    _write_big(c, "again", 0, 200);
    _drain(h);
    wrote = harness_stat(h, "demotions") + harness_stat(h, "persist_writes") - wrote;
    a = _acct(h, 0);
    _info(c, "tier.ssd.health", health, sizeof(health));
    _print_acct(persist, "recovered", &a);
    printf("# persist %s: recovered: %llu records written, disk_errors +%llu, health %s (%.1f s)\n",
           persist, (unsigned long long)wrote, (unsigned long long)(a.errors - errors), health,
           _now() - t0);
    assert_true(wrote >= (durable ? 190 : 60)); /* off: the ones evicted from memory */
    assert_int_equal(a.errors, errors);
    assert_string_equal(health, "ok");
    assert_true(a.used <= a.fs + SLACK && a.used <= fs_total);
    int hits = 0;
    for (int i = 0; i < 100; i++) /* evicted from memory: read from the tier */
        hits += _read_big(c, "again", i);
    printf("# persist %s: %d of the first 100 keys written after the recovery read back\n",
           persist, hits);
    assert_true(hits >= 90);
    const char *every[] = {"acct", "fault", "again", durable ? "dur" : NULL, NULL};
    const int nevery[] = {n, nfault, 200, ndur};
    assert_true(_claims_hold(persist, "recovered", c, every, nevery, harness_stat(h, "ssd_items")));

    cc_client_destroy(&c);
    harness_destroy(&srv);
}

static void test_full_disk_accounting_demotions(void **state)
{
    (void)state;
    _full_disk_accounting("off", "rocksdb");
}

/* The same on a value log (docs/valuelog.md): a full disk fails the creation of a segment,
 * never a record halfway. */
static void test_full_disk_accounting_vlog(void **state)
{
    (void)state;
    _full_disk_accounting("off", "vlog");
}

static void test_full_disk_accounting_persist(void **state)
{
    (void)state;
    _full_disk_accounting("async", "rocksdb");
}

/* Runs after the test, passed or failed: never leave a mount behind. */
static int cleanup(void **state)
{
    (void)state;
    if (srv) { /* a failed accounting test: its server still runs on the mount */
        harness_print_log(srv, 30);
        harness_destroy(&srv);
    }
    if (mounted && _sh("umount '%s'", disk) != 0)
        return -1;
    mounted = 0;
    int rc = dir[0] && _sh("rm -rf '%s'", dir) != 0 ? -1 : 0;
    dir[0] = 0;
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_full_disk_and_recovery, cleanup),
        cmocka_unit_test_teardown(test_full_disk_accounting_demotions, cleanup),
        cmocka_unit_test_teardown(test_full_disk_accounting_vlog, cleanup),
        cmocka_unit_test_teardown(test_full_disk_accounting_persist, cleanup),
    };
    return cmocka_run_group_tests_name("disk faults", tests, NULL, NULL);
}
