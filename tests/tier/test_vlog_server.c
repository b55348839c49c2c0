/* The SSD tier on a value log (--ssd-backend vlog, docs/valuelog.md) in a real cacheserverd:
 * start-up migrates a tier persisted by RocksDB into the log and a persisted log back into
 * RocksDB at a rocksdb start (both also after a kill during the migration, in fault builds,
 * and refused without room), refuses an unknown back end;
 * when the segment files fill the tier, the hand keeps records read since it last passed
 * (rewritten at the head) and drops cold ones out of the cache; compaction gives back the
 * space of overwritten records without losing a value; expired records leave at the hand.
 * Values are 4000 bytes, never compressed (tier-compress-threshold above them), so the bytes
 * on disk are predictable. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"
#include "harness.h"
#include "tier_client.h"

#define VLEN 4000
#define MIB (1024ull * 1024ull)

static struct harness *srv;
static char base_dir[256];

static cc_client *_client(void) { return tier_client(srv); }

/* A write of a fill, retried while the server answers E_NOMEM: with 1 MiB of memory and
 * persist sync, items wait for the disk writer, and a sanitized writer can leave no room
 * for a while (an APPEND of 64 KiB under TSan). Filling is the set-up, not what is checked. */
#define FILL_OK(call)                                                                          \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        for (int n_ = 0; rc_ == CC_E_NOMEM && n_ < 200; n_++) {                                \
            usleep(50000);                                                                     \
            rc_ = (call);                                                                      \
        }                                                                                      \
        assert_int_equal(rc_, CC_OK);                                                          \
    } while (0)

static uint64_t _stat(const char *name) { return harness_stat(srv, name); }

static uint64_t _now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Key i's value in round r: distinct per key and per round. */
static void _value(int i, int r, char *buf)
{
    for (int j = 0; j < VLEN; j++)
        buf[j] = (char)('a' + (i * 7 + r * 3 + j) % 26);
    snprintf(buf, 24, "v%08d.r%d", i, r); /* distinct prefix */
}

/* Start a server whose SSD tier is a value log of ssd_size, the tier beside its data. */
static int _start(const char *ssd_size)
{
    if (!tier_tmpdir(base_dir, sizeof(base_dir), "tier-vlog"))
        return -1;
    char ssd_dir[300];
    snprintf(ssd_dir, sizeof(ssd_dir), "%s/ssd", base_dir);
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd_dir, "--ssd-size", ssd_size,
                          "--ssd-backend", "vlog", "--demote-unread", "true",
                          "--tier-queue", "100000", "--threads", "2",
                          "--tier-compress-threshold", "100000", NULL};
    srv = harness_start(args);
    if (!srv) {
        tier_rmdir(base_dir);
        return -1;
    }
    return 0;
}

static int setup_4m(void **state)
{
    (void)state;
    return _start("4MiB");
}

static int setup_64m(void **state)
{
    (void)state;
    return _start("64MiB");
}

static int teardown(void **state)
{
    (void)state;
    harness_destroy(&srv);
    return tier_rmdir(base_dir);
}

/* Wait until the writer has nothing queued. */
static void _settle(void)
{
    for (int i = 0; i < 3000 && _stat("tier_queue_depth") != 0; i++)
        usleep(10000);
    assert_int_equal(_stat("tier_queue_depth"), 0);
}

/* Writes keys [from, to) of prefix, round r's values, ttl_ms (0: none); no settle. */
static void _write(cc_client *c, const char *prefix, int from, int to, int r, uint64_t ttl_ms)
{
    char key[32], *val = malloc(VLEN);
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        _value(i, r, val);
        cc_value v = cc_value_bytes(val, VLEN);
        assert_int_equal(cc_set(c, key, strlen(key), &v, ttl_ms, 0, 0, NULL), CC_OK);
    }
    free(val);
}

static void _fill(cc_client *c, const char *prefix, int from, int to, int r)
{
    _write(c, prefix, from, to, r, 0);
    _settle();
}

/* Every key [from, to) of prefix reads back round r's value, byte for byte. */
static void _read_back(cc_client *c, const char *prefix, int from, int to, int r)
{
    char key[32], *want = malloc(VLEN);
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc != CC_OK)
            fail_msg("key %s: %s (%s); tier_evictions %llu vlog_segments_dropped %llu "
                     "vlog_bytes_moved %llu checksum_errors %llu", key, cc_strstatus(rc),
                     cc_errmsg(c), (unsigned long long)_stat("tier_evictions"),
                     (unsigned long long)_stat("vlog_segments_dropped"),
                     (unsigned long long)_stat("vlog_bytes_moved"),
                     (unsigned long long)_stat("checksum_errors"));
        _value(i, r, want);
        assert_int_equal(it.value.type, CC_TYPE_BYTES);
        assert_int_equal(it.value.len, VLEN);
        if (memcmp(it.value.data, want, VLEN) != 0)
            fail_msg("key %s: not round %d's value (starts '%.16s')", key, r,
                     (const char *)it.value.data);
        cc_item_release(&it);
    }
    free(want);
}

/* How many keys [from, to) of prefix are not found (any other answer than OK fails). */
static int _count_missing(cc_client *c, const char *prefix, int from, int to)
{
    char key[32];
    int missing = 0;
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc == CC_NOT_FOUND)
            missing++;
        else if (rc != CC_OK)
            fail_msg("key %s: %s (%s)", key, cc_strstatus(rc), cc_errmsg(c));
        cc_item_release(&it);
    }
    return missing;
}

static void _print_stats(const char *when)
{
    const char *names[] = {"vlog_segments", "vlog_dead_bytes", "vlog_bytes_appended",
                           "vlog_bytes_moved", "vlog_segments_dropped", "vlog_expired_dropped",
                           "tier_evictions", "ssd_hits", "ssd_items", "ssd_disk_bytes",
                           "demotions", "checksum_errors"};
    printf("# %s:", when);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        printf(" %s=%llu", names[i], (unsigned long long)_stat(names[i]));
    printf("\n");
}

/* ---- start-up ---- */

/* Does dir hold a segment file? */
static bool _has_segments(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d)))
        found = strncmp(e->d_name, "seg-", 4) == 0;
    if (d)
        closedir(d);
    return found;
}

/* True when the server exited on its own (not stopped by the timeout) with a non-zero code
 * and its output names the reason; else prints its output and why. */
static bool _refused(const char *out, int rc, const char *needle, const char *what)
{
    char cmd[600];
    if (rc != 0 && rc != 124 && tier_file_contains(out, needle))
        return true;
    system((snprintf(cmd, sizeof(cmd), "cat %s >&2", out), cmd));
    fprintf(stderr, "ERROR: %s: exit code %d (124: it started and ran until stopped), want a "
            "refusal saying '%s'\n", what, rc, needle);
    return false;
}

static void test_refused_with_other_data_or_unknown(void **state)
{
    (void)state;
    char dir[200], cmd[1024], out[300];
    snprintf(dir, sizeof(dir), "%s/vlog-refuse.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    int wrong = 0;

    /* a log's persisted data started as RocksDB without persistence: it starts, its
     * segments and marker removed (with persistence the log moves to RocksDB:
     * test_migrates_a_log_back_to_rocksdb) */
    int rc;
    {
        char ssd[300], seg[400];
        snprintf(ssd, sizeof(ssd), "%s/persisted-vlog", dir);
        const char *pargs[] = {"--ssd-path", ssd, "--ssd-backend", "vlog", "--persist", "sync",
                               "--memory", "8MiB", NULL};
        srv = harness_start(pargs);
        cc_client *c = _client();
        cc_value v = cc_value_bytes("kept", 4);
        assert_int_equal(cc_set(c, "k", 1, &v, 0, 0, 0, NULL), CC_OK);
        cc_client_destroy(&c);
        harness_destroy(&srv);
        snprintf(seg, sizeof(seg), "%s/vlog", ssd);
        assert_true(_has_segments(seg));
        const char *rargs[] = {"--ssd-path", ssd, "--ssd-backend", "rocksdb", "--memory", "8MiB",
                               NULL};
        srv = harness_start(rargs);
        harness_destroy(&srv);
        assert_false(_has_segments(seg));
        snprintf(seg, sizeof(seg), "%s/BACKEND", ssd);
        assert_int_not_equal(access(seg, F_OK), 0);
    }

    /* an unknown back end */
    snprintf(out, sizeof(out), "%s/foo.txt", dir);
    rc = tier_run_server(out, "--socket %s/c.sock --data-dir %s/data3 --ssd-path %s/ssd3 "
                          "--ssd-backend foo", dir);
    wrong += !_refused(out, rc, "ssd_backend must be rocksdb or vlog", "ssd_backend foo");

    /* persistence off: it starts and serves */
    char ssd[300];
    snprintf(ssd, sizeof(ssd), "%s/ssd4", dir);
    const char *args[] = {"--ssd-path", ssd, "--ssd-backend", "vlog", "--memory", "8MiB", NULL};
    struct harness *h = harness_start(args);
    assert_non_null(h);
    srv = h;
    cc_client *c = _client();
    cc_value v = cc_value_bytes("in a log", 8);
    assert_int_equal(cc_set(c, "k", 1, &v, 0, 0, 0, NULL), CC_OK);
    cc_item it = {0};
    assert_int_equal(cc_get(c, "k", 1, &it), CC_OK);
    assert_int_equal(it.value.len, 8);
    assert_memory_equal(it.value.data, "in a log", 8);
    cc_item_release(&it);
    assert_true(harness_log_contains(h, "(vlog)"));
    cc_client_destroy(&c);
    harness_destroy(&h);
    srv = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    if (wrong)
        fail_msg("%d of 1 start-ups that must be refused were not (see above)", wrong);
}

/* ---- the migration from RocksDB (docs/valuelog.md, "An existing RocksDB tier directory
 * on upgrade") ---- */

#define MIG_KEYS 2000
#define MIG_VLEN 1000
#define MIG_STREAMS 3
#define MIG_STREAM_LEN (320 * 1024) /* 5 appends of 64 KiB */

/* Key i's value: distinct per key. */
static void _mig_value(int i, char *buf)
{
    for (int j = 0; j < MIG_VLEN; j++)
        buf[j] = (char)('A' + (i * 13 + j * 7 + j / 61) % 57);
    snprintf(buf, 16, "m%08d.", i);
}

/* Byte o of stream s. */
static uint8_t _mig_byte(int s, uint64_t o) { return (uint8_t)((o * 2654435761u) >> 9 ^ (uint64_t)s * 77); }

/* Deleted keys: every 97th. */
static bool _mig_deleted(int i) { return i % 97 == 5; }

/* The server arguments for a tier at ssd with back end be (14 words and NULL); values are
 * stored uncompressed, so the tier holds about 2 MB: three segments of 1 MiB on a log. */
static void _mig_args(const char **a, const char *ssd, const char *be)
{
    const char *w[] = {"--ssd-path", ssd, "--ssd-backend", be, "--persist", "sync",
                       "--memory", "1MiB", "--tier-queue", "100000",
                       "--tier-compress-threshold", "100000", "--vlog-segment-size", "1MiB",
                       NULL};
    memcpy(a, w, sizeof(w));
}

/* A RocksDB tier persisted at ssd: nkeys keys of MIG_VLEN bytes (most of them only on the
 * SSD tier, memory being small), MIG_STREAMS streams, and the deleted keys gone. Returns
 * its key records (ssd_items). */
static uint64_t _mig_fill_rocksdb(const char *ssd, int nkeys)
{
    const char *args[16];
    _mig_args(args, ssd, "rocksdb");
    srv = harness_start(args);
    cc_client *c = _client();
    char key[32], *val = malloc(MIG_VLEN);
    for (int i = 0; i < nkeys; i++) {
        snprintf(key, sizeof(key), "mig:%d", i);
        _mig_value(i, val);
        cc_value v = cc_value_bytes(val, MIG_VLEN);
        FILL_OK(cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL));
    }
    free(val);
    uint8_t *buf = malloc(64 * 1024);
    for (int s = 0; s < MIG_STREAMS; s++) {
        snprintf(key, sizeof(key), "stream:%d", s);
        uint64_t nl = 0;
        for (uint64_t off = 0; off < MIG_STREAM_LEN; off += 64 * 1024) {
            for (size_t j = 0; j < 64 * 1024; j++)
                buf[j] = _mig_byte(s, off + j);
            FILL_OK(cc_append(c, key, strlen(key), buf, 64 * 1024, 0, &nl));
        }
    }
    free(buf);
    for (int i = 0; i < nkeys; i++) {
        if (!_mig_deleted(i))
            continue;
        snprintf(key, sizeof(key), "mig:%d", i);
        const void *keys[1] = {key};
        size_t klens[1] = {strlen(key)};
        uint64_t deleted = 0;
        assert_int_equal(cc_del(c, 1, keys, klens, &deleted), CC_OK);
        assert_int_equal(deleted, 1);
    }
    _settle();
    for (int i = 0; i < 3000 && _stat("stream_backlog_bytes") != 0; i++)
        usleep(10000);
    uint64_t items = _stat("ssd_items");
    printf("# RocksDB tier: ssd_items %llu\n", (unsigned long long)items);
    cc_client_destroy(&c);
    harness_destroy(&srv); /* SIGTERM */
    return items;
}

/* Every key of the fill reads back byte for byte, the deleted ones are absent, the streams
 * read back whole. */
/* The MIG_STREAMS streams read back whole, as _mig_fill_rocksdb wrote them; returns wrong
 * plus the count of those that do not (printing up to `print` failures in all). */
static int _streams_check(cc_client *c, int wrong, int print)
{
    char key[32];
    for (int s = 0; s < MIG_STREAMS; s++) {
        snprintf(key, sizeof(key), "stream:%d", s);
        cc_item it = {0};
        int rc = cc_getrange(c, key, strlen(key), 0, 2 * MIG_STREAM_LEN, &it);
        bool ok = rc == CC_OK && it.value.len == MIG_STREAM_LEN;
        for (uint64_t o = 0; ok && o < MIG_STREAM_LEN; o++)
            ok = ((const uint8_t *)it.value.data)[o] == _mig_byte(s, o);
        if (!ok && wrong++ < print)
            printf("# stream %s: %s, %zu bytes, or other bytes\n", key, cc_strstatus(rc),
                   rc == CC_OK ? (size_t)it.value.len : (size_t)0);
        cc_item_release(&it);
    }
    return wrong;
}

static void _mig_check(int nkeys)
{
    cc_client *c = _client();
    char key[32], *want = malloc(MIG_VLEN);
    int wrong = 0;
    for (int i = 0; i < nkeys; i++) {
        snprintf(key, sizeof(key), "mig:%d", i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (_mig_deleted(i)) {
            if (rc != CC_NOT_FOUND && wrong++ < 5)
                printf("# key %s was deleted: %s\n", key, cc_strstatus(rc));
            cc_item_release(&it);
            continue;
        }
        _mig_value(i, want);
        if (rc != CC_OK || it.value.len != MIG_VLEN || memcmp(it.value.data, want, MIG_VLEN))
            if (wrong++ < 5)
                printf("# key %s: %s, %zu bytes\n", key, cc_strstatus(rc),
                       rc == CC_OK ? (size_t)it.value.len : (size_t)0);
        cc_item_release(&it);
    }
    free(want);
    wrong = _streams_check(c, wrong, 5);
    if (wrong) {
        harness_print_log(srv, getenv("MIG_LOG_LINES") ? atoi(getenv("MIG_LOG_LINES")) : 30);
        fail_msg("%d keys or streams not as written after the migration", wrong);
    }
    assert_int_equal(_stat("checksum_errors"), 0);
    cc_client_destroy(&c);
}

/* Keys seal:0..n-1 read back as _mig_value wrote them; the count of those that do not. */
static int _seal_wrong(int n)
{
    cc_client *c = _client();
    char key[32], *want = malloc(MIG_VLEN);
    int wrong = 0;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "seal:%d", i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        _mig_value(i, want);
        wrong += rc != CC_OK || it.value.len != MIG_VLEN || memcmp(it.value.data, want, MIG_VLEN);
        cc_item_release(&it);
    }
    free(want);
    cc_client_destroy(&c);
    return wrong;
}

static void _seal_write(int from, int to)
{
    cc_client *c = _client();
    char key[32], *val = malloc(MIG_VLEN);
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "seal:%d", i);
        _mig_value(i, val);
        cc_value v = cc_value_bytes(val, MIG_VLEN);
        FILL_OK(cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL));
    }
    free(val);
    cc_client_destroy(&c);
}

/* A clean stop seals the segment appends went to (synced, with its footer), so the next
 * start reads its footer instead of scanning its records; after a kill -9 that segment has
 * no footer and the start scans it, as before. Every key reads back either way. */
static void test_clean_stop_seals_the_active_segment(void **state)
{
    (void)state;
    assert_true(tier_tmpdir(base_dir, sizeof(base_dir), "tier-vlog-seal"));
    char ssd[300];
    snprintf(ssd, sizeof(ssd), "%s/ssd", base_dir);
    const char *args[16];
    _mig_args(args, ssd, "vlog"); /* persist sync, 1 MiB of memory, 1 MiB segments */
    srv = harness_start(args);
    _seal_write(0, 600); /* about 600 KB: the segment being appended to is not full */
    harness_destroy(&srv);

    srv = harness_start(args);
    if (!harness_log_contains(srv, "segments opened (0 scanned)")) {
        harness_print_log(srv, 20);
        fail_msg("the start after a clean stop scanned a segment");
    }
    assert_int_equal(_seal_wrong(600), 0);
    _seal_write(600, 900);
    assert_true(WIFSIGNALED(harness_kill(srv, SIGKILL)));
    harness_respawn(srv);
    if (!harness_log_contains(srv, "segments opened (1 scanned)")) {
        harness_print_log(srv, 20);
        fail_msg("the start after a kill -9 did not scan the segment appends went to");
    }
    assert_int_equal(_seal_wrong(900), 0);
    harness_destroy(&srv);
    tier_rmdir(base_dir);
}

/* A tier persisted by RocksDB, started as a value log: its records move to the log once,
 * and every key, deletion and stream is as it was, then and after one more restart. */
static void test_migrates_a_rocksdb_tier(void **state)
{
    (void)state;
    assert_true(tier_tmpdir(base_dir, sizeof(base_dir), "tier-vlog-mig"));
    char ssd[300], path[400];
    snprintf(ssd, sizeof(ssd), "%s/ssd", base_dir);
    uint64_t items = _mig_fill_rocksdb(ssd, MIG_KEYS);
    assert_int_equal(items, MIG_KEYS - (MIG_KEYS + 91) / 97 + MIG_STREAMS);
    snprintf(path, sizeof(path), "%s/BACKEND", ssd);
    assert_int_not_equal(access(path, F_OK), 0); /* RocksDB's: no marker */

    const char *args[16];
    _mig_args(args, ssd, "vlog");
    srv = harness_start(args);
    char line[80];
    snprintf(line, sizeof(line), "migrated %llu records", (unsigned long long)items);
    if (!harness_log_contains(srv, line)) {
        harness_print_log(srv, 30);
        fail_msg("no migration of %llu records logged", (unsigned long long)items);
    }
    assert_int_equal(access(path, F_OK), 0);
    _mig_check(MIG_KEYS);
    for (int i = 0; i < 300 && _stat("vlog_segments") == 0; i++) /* the writer's gauges */
        usleep(10000);
    printf("# migrated: ssd_items %llu, vlog_segments %llu, ssd_hits %llu\n",
           (unsigned long long)_stat("ssd_items"), (unsigned long long)_stat("vlog_segments"),
           (unsigned long long)_stat("ssd_hits"));
    assert_true(_stat("vlog_segments") > 0);
    assert_true(_stat("ssd_items") > 0);
    harness_destroy(&srv);

    /* once more: the migration does not run again, and nothing changed */
    srv = harness_start(args);
    assert_false(harness_log_contains(srv, "from RocksDB to the value log"));
    assert_false(harness_log_contains(srv, "persisted by ssd_backend rocksdb to a value log"));
    _mig_check(MIG_KEYS);
    harness_destroy(&srv);
    tier_rmdir(base_dir);
}

static char room_disk[400];
static int room_mounted;

/* Runs after test_migration_without_room, passed or failed: never leave a mount behind. */
static int room_teardown(void **state)
{
    (void)state;
    char cmd[600];
    harness_destroy(&srv);
    if (room_mounted) {
        snprintf(cmd, sizeof(cmd), "umount '%s'", room_disk);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot umount %s\n", room_disk);
        room_mounted = 0;
    }
    return tier_rmdir(base_dir);
}

/* A tmpfs at room_disk 1 MiB larger than the tier at orig, and a copy of orig in it at ssd.
 * False (and "# skipped" printed) where a tmpfs cannot be mounted (not root). */
static bool _room_copy(const char *orig, const char *ssd)
{
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "du -sk '%s'", orig);
    FILE *p = popen(cmd, "r");
    long kb = 0;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%ld", &kb), 1);
    pclose(p);
    snprintf(cmd, sizeof(cmd), "mkdir '%s' && mount -t tmpfs -o size=%ldk tmpfs '%s' "
             "2>/dev/null", room_disk, kb + 1024, room_disk);
    if (system(cmd) != 0) {
        printf("# skipped: cannot mount a tmpfs here (needs root)\n");
        return false;
    }
    room_mounted = 1;
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", orig, ssd);
    assert_int_equal(system(cmd), 0);
    return true;
}

static void _assert_no_log(const char *ssd);

/* A move between back ends on a file system without room for it: how each direction is
 * started and checked. */
struct room_case {
    const char *dir;                       /* tier_tmpdir's prefix */
    uint64_t (*fill)(const char *, int);   /* persist a tier of the `from` kind */
    void (*check)(int);                    /* every key as written (srv running) */
    int keys;
    const char *from, *to;                 /* the back ends */
    const char *refusal, *what;            /* the refusal's words, and what it refuses */
    bool marker;                           /* the tier has BACKEND while it is a log */
    const char *dropped;                   /* the line of a start with --tier-start-empty */
    const char *probe;                     /* a key that is then missing */
};

/* A tmpfs 1 MiB larger than the tier (root only, else skipped) around a copy of it: the
 * start with `to` is refused naming both options and leaves the tier whole (a start with
 * `from` on a copy out of the full file system reads every key); --tier-start-empty true
 * then starts the tier empty with `to`. */
static void _no_room(const struct room_case *rc)
{
    assert_true(tier_tmpdir(base_dir, sizeof(base_dir), rc->dir));
    char orig[300], ssd[500], cmd[1400], out[400];
    snprintf(orig, sizeof(orig), "%s/orig", base_dir);
    snprintf(room_disk, sizeof(room_disk), "%s/disk", base_dir);
    snprintf(ssd, sizeof(ssd), "%s/ssd", room_disk);
    (void)rc->fill(orig, rc->keys);
    if (!_room_copy(orig, ssd))
        return;
    snprintf(out, sizeof(out), "%s/room.txt", base_dir);
    char fmt[1200], stay[64];
    snprintf(fmt, sizeof(fmt), "--socket %%s/r.sock --data-dir %%s/rdata --ssd-path %s "
             "--ssd-backend %s --persist sync --vlog-segment-size 1MiB", ssd, rc->to);
    snprintf(stay, sizeof(stay), "--ssd-backend %s", rc->from);
    int r = tier_run_server(out, fmt, base_dir);
    bool ok = _refused(out, r, rc->refusal, rc->what) &&
              _refused(out, r, stay, "the refusal names the back end to stay with") &&
              _refused(out, r, "--tier-start-empty true", "the refusal names tier-start-empty");
    if (!ok)
        fail_msg("%s was not refused as it should be", rc->what);
    snprintf(cmd, sizeof(cmd), "%s/BACKEND", ssd);
    assert_int_equal(access(cmd, F_OK) == 0, rc->marker);

    /* the tier is whole: a copy out of the full file system (where the back end itself
     * would run short of room), started as it was */
    char back[400];
    snprintf(back, sizeof(back), "%s/back", base_dir);
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", ssd, back);
    assert_int_equal(system(cmd), 0);
    const char *args[20];
    _mig_args(args, back, rc->from);
    srv = harness_start(args);
    rc->check(rc->keys);
    harness_destroy(&srv);

    _mig_args(args, ssd, rc->to);
    const char *more[] = {"--tier-start-empty", "true", NULL};
    memcpy(args + 14, more, sizeof(more));
    srv = harness_start(args);
    assert_true(harness_log_contains(srv, rc->dropped));
    if (!strcmp(rc->to, "rocksdb"))
        _assert_no_log(ssd);
    cc_client *c = _client();
    cc_item it = {0};
    assert_int_equal(cc_get(c, rc->probe, strlen(rc->probe), &it), CC_NOT_FOUND);
    cc_client_destroy(&c);
    harness_destroy(&srv);
}

/* RocksDB to a log without room for the log's copy of the records. */
static void test_migration_without_room(void **state)
{
    (void)state;
    _no_room(&(struct room_case){.dir = "tier-vlog-room", .fill = _mig_fill_rocksdb,
                                 .check = _mig_check, .keys = MIG_KEYS, .from = "rocksdb",
                                 .to = "vlog", .refusal = "no room to move its",
                                 .what = "a migration without room", .marker = false,
                                 .dropped = "its RocksDB records are dropped",
                                 .probe = "mig:1"});
}

#define KILL_KEYS 800

/* Run the server on ssd with back end be until FAULT migrate-stop at `point` exits it (137). */
static int _run_until_stop(const char *dir, const char *ssd, const char *be, const char *point)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "CACHESERVERD_FAULT_MIGRATE_STOP=%s timeout 20 '%s' --socket "
             "%s/k.sock --data-dir %s/kdata --ssd-path %s --ssd-backend %s --persist sync "
             "--memory 1MiB --tier-compress-threshold 100000 --vlog-segment-size 1MiB >%s/kill-%s.txt 2>&1", point, getenv("CACHESERVERD"), dir, dir, ssd,
             be, dir, point);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* Fault builds: a kill while the records move (after 500 of them, once the log is sealed
 * but before its marker, after the marker but before RocksDB's records are deleted); the
 * next start finds every key, from RocksDB (a migration again) or from the complete log. */
static void test_kill_during_migration(void **state)
{
    (void)state;
    assert_true(tier_tmpdir(base_dir, sizeof(base_dir), "tier-vlog-kill"));
    char ssd[300], orig[300], cmd[1200], path[400];
    snprintf(ssd, sizeof(ssd), "%s/ssd", base_dir);
    snprintf(orig, sizeof(orig), "%s/orig", base_dir);
    {
        const char *args[] = {"--memory", "8MiB", NULL};
        srv = harness_start(args);
        if (harness_skip_without_faults(&srv)) {
            tier_rmdir(base_dir);
            return;
        }
        harness_destroy(&srv);
    }
    (void)_mig_fill_rocksdb(orig, KILL_KEYS);
    static const char *const points[] = {"500", "sealed", "marked"};
    for (int p = 0; p < 3; p++) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", ssd, orig, ssd);
        assert_int_equal(system(cmd), 0);
        int rc = _run_until_stop(base_dir, ssd, "vlog", points[p]);
        if (rc != 137) {
            snprintf(cmd, sizeof(cmd), "cat %s/kill-%s.txt >&2", base_dir, points[p]);
            (void)system(cmd);
            fail_msg("FAULT migrate-stop at %s: exit code %d, want 137", points[p], rc);
        }
        snprintf(path, sizeof(path), "%s/BACKEND", ssd);
        assert_int_equal(access(path, F_OK) == 0, p == 2); /* the marker only after it */
        snprintf(path, sizeof(path), "%s/vlog", ssd);
        assert_true(_has_segments(path));
        const char *args[16];
        _mig_args(args, ssd, "vlog");
        srv = harness_start(args);
        /* before the marker the migration runs again; after it only the delete is left */
        assert_int_equal(harness_log_contains(srv, "from RocksDB to the value log"), p < 2);
        assert_int_equal(harness_log_contains(srv, "a migration to the value log left"), p == 2);
        printf("# killed at %s: every key back\n", points[p]);
        _mig_check(KILL_KEYS);
        harness_destroy(&srv);
    }
    tier_rmdir(base_dir);
}

/* ---- the way back: a persisted log moved to RocksDB at a rocksdb start ---- */

#define BACK_KEYS 1500
#define BACK_KEPT 100  /* keys of namespace "kept" */
#define BACK_GONE 200  /* keys of namespace "gone", flushed */
#define BACK_AFTER 10  /* keys of namespace "gone" written after its flush */

static bool _back_over(int i) { return i % 5 == 2; }     /* overwritten: round 2's value */
static bool _back_deleted(int i) { return i % 89 == 7; } /* deleted (some after an overwrite) */

static int _back_deleted_count(int nkeys)
{
    int n = 0;
    for (int i = 0; i < nkeys; i++)
        n += _back_deleted(i);
    return n;
}

/* Key i's value in round r (1 or 2): distinct per key and round. */
static void _back_value(int i, int r, char *buf)
{
    _mig_value(i, buf);
    if (r == 2)
        buf[0] = 'r';
}

static void _back_set(cc_client *c, const char *key, int i, int r, char *val)
{
    _back_value(i, r, val);
    cc_value v = cc_value_bytes(val, MIG_VLEN);
    FILL_OK(cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL));
}

/* A value log persisted at ssd (sync, little memory: most keys only on disk): nkeys keys of
 * which some are overwritten and some deleted, namespace "kept", namespace "gone" flushed
 * (then BACK_AFTER keys written to it again), MIG_STREAMS streams. Returns ssd_items. */
static uint64_t _back_fill_log(const char *ssd, int nkeys)
{
    const char *args[16];
    _mig_args(args, ssd, "vlog");
    srv = harness_start(args);
    cc_client *c = _client();
    char key[32], *val = malloc(MIG_VLEN);
    for (int i = 0; i < nkeys; i++) {
        snprintf(key, sizeof(key), "back:%d", i);
        _back_set(c, key, i, 1, val);
    }
    assert_int_equal(cc_select_ns(c, "kept"), CC_OK);
    for (int i = 0; i < BACK_KEPT; i++) {
        snprintf(key, sizeof(key), "kept:%d", i);
        _back_set(c, key, i, 1, val);
    }
    assert_int_equal(cc_select_ns(c, "gone"), CC_OK);
    for (int i = 0; i < BACK_GONE; i++) {
        snprintf(key, sizeof(key), "gone:%d", i);
        _back_set(c, key, i, 1, val);
    }
    _settle();
    uint64_t removed = 0;
    assert_int_equal(cc_flush(c, "gone", &removed), CC_OK);
    assert_true(removed > 0); /* (what _back_check reads is what counts) */
    for (int i = 0; i < BACK_AFTER; i++) {
        snprintf(key, sizeof(key), "gone:a%d", i);
        _back_set(c, key, i, 2, val);
    }
    assert_int_equal(cc_select_ns(c, ""), CC_OK);
    uint8_t *buf = malloc(64 * 1024);
    for (int s = 0; s < MIG_STREAMS; s++) {
        snprintf(key, sizeof(key), "stream:%d", s);
        uint64_t nl = 0;
        for (uint64_t off = 0; off < MIG_STREAM_LEN; off += 64 * 1024) {
            for (size_t j = 0; j < 64 * 1024; j++)
                buf[j] = _mig_byte(s, off + j);
            FILL_OK(cc_append(c, key, strlen(key), buf, 64 * 1024, 0, &nl));
        }
    }
    free(buf);
    for (int i = 0; i < nkeys; i++) {
        snprintf(key, sizeof(key), "back:%d", i);
        if (_back_over(i))
            _back_set(c, key, i, 2, val);
        if (_back_deleted(i)) {
            const void *keys[1] = {key};
            size_t klens[1] = {strlen(key)};
            uint64_t deleted = 0;
            assert_int_equal(cc_del(c, 1, keys, klens, &deleted), CC_OK);
            assert_int_equal(deleted, 1);
        }
    }
    free(val);
    _settle();
    for (int i = 0; i < 3000 && _stat("stream_backlog_bytes") != 0; i++)
        usleep(10000);
    uint64_t items = _stat("ssd_items");
    printf("# value log: ssd_items %llu, vlog_segments %llu\n", (unsigned long long)items,
           (unsigned long long)_stat("vlog_segments"));
    cc_client_destroy(&c);
    harness_destroy(&srv); /* SIGTERM */
    return items;
}

/* One key's check: want round r's value (r 0: absent). Returns 1 when it is not so. */
static int _back_key(cc_client *c, const char *key, int i, int r, char *want)
{
    cc_item it = {0};
    int rc = cc_get(c, key, strlen(key), &it), bad;
    if (r == 0) {
        bad = rc != CC_NOT_FOUND;
    } else {
        _back_value(i, r, want);
        bad = rc != CC_OK || it.value.len != MIG_VLEN || memcmp(it.value.data, want, MIG_VLEN);
    }
    if (bad)
        printf("# key %s (want %s): %s, %zu bytes\n", key, r ? "a value" : "none",
               cc_strstatus(rc), rc == CC_OK ? (size_t)it.value.len : (size_t)0);
    cc_item_release(&it);
    return bad;
}

/* Every live key of _back_fill_log reads back byte for byte, the deleted and flushed ones are
 * absent, the streams read back whole. */
static void _back_check(int nkeys)
{
    cc_client *c = _client();
    char key[32], *want = malloc(MIG_VLEN);
    int wrong = 0;
    for (int i = 0; i < nkeys && wrong < 10; i++) {
        snprintf(key, sizeof(key), "back:%d", i);
        wrong += _back_key(c, key, i, _back_deleted(i) ? 0 : _back_over(i) ? 2 : 1, want);
    }
    assert_int_equal(cc_select_ns(c, "kept"), CC_OK);
    for (int i = 0; i < BACK_KEPT && wrong < 10; i++) {
        snprintf(key, sizeof(key), "kept:%d", i);
        wrong += _back_key(c, key, i, 1, want);
    }
    assert_int_equal(cc_select_ns(c, "gone"), CC_OK);
    for (int i = 0; i < BACK_GONE && wrong < 10; i++) {
        snprintf(key, sizeof(key), "gone:%d", i);
        wrong += _back_key(c, key, i, 0, want);
    }
    for (int i = 0; i < BACK_AFTER && wrong < 10; i++) {
        snprintf(key, sizeof(key), "gone:a%d", i);
        wrong += _back_key(c, key, i, 2, want);
    }
    assert_int_equal(cc_select_ns(c, ""), CC_OK);
    free(want);
    wrong = _streams_check(c, wrong, 10);
    if (wrong) {
        harness_print_log(srv, getenv("MIG_LOG_LINES") ? atoi(getenv("MIG_LOG_LINES")) : 30);
        fail_msg("%d keys or streams not as written after the way back", wrong);
    }
    assert_int_equal(_stat("checksum_errors"), 0);
    cc_client_destroy(&c);
}

/* The server log names the migration of `items` records in direction dir ("from the value
 * log to RocksDB", "from RocksDB to the value log"). */
static void _assert_migrated(uint64_t items, const char *dir)
{
    char line[120];
    snprintf(line, sizeof(line), "migrated %llu records", (unsigned long long)items);
    if (!harness_log_contains(srv, line) || !harness_log_contains(srv, dir)) {
        harness_print_log(srv, 30);
        fail_msg("no migration of %llu records %s logged", (unsigned long long)items, dir);
    }
}

/* ssd (a tier directory) holds neither segments nor the log's marker. */
static void _assert_no_log(const char *ssd)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/vlog", ssd);
    assert_false(_has_segments(path));
    snprintf(path, sizeof(path), "%s/BACKEND", ssd);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* The SSD tier indexed `items` keys (the warm restart's walk of RocksDB). */
static void _assert_items(uint64_t items)
{
    uint64_t n = 0;
    for (int i = 0; i < 500 && (n = _stat("ssd_items")) != items; i++)
        usleep(10000);
    if (n != items) {
        harness_print_log(srv, 40);
        fail_msg("ssd_items %llu, want %llu", (unsigned long long)n, (unsigned long long)items);
    }
}

#define TO_ROCKSDB "from the value log to RocksDB"
#define TO_LOG "from RocksDB to the value log"

/* A tier persisted by a value log, started as RocksDB: its live records move to RocksDB once
 * (overwrites, deletes, a namespace's flush decided as the replay decides them), the log
 * goes; a second rocksdb start does nothing more; a vlog start then migrates it forward
 * again, and every key, deletion and stream is as written throughout. */
static void test_migrates_a_log_back_to_rocksdb(void **state)
{
    (void)state;
    assert_true(tier_tmpdir(base_dir, sizeof(base_dir), "tier-vlog-back"));
    char ssd[300], path[400];
    snprintf(ssd, sizeof(ssd), "%s/ssd", base_dir);
    uint64_t items = _back_fill_log(ssd, BACK_KEYS);
    assert_int_equal(items, BACK_KEYS - _back_deleted_count(BACK_KEYS) + BACK_KEPT + BACK_AFTER +
                                MIG_STREAMS);
    snprintf(path, sizeof(path), "%s/BACKEND", ssd);
    assert_int_equal(access(path, F_OK), 0); /* a log's */
    snprintf(path, sizeof(path), "%s/vlog", ssd);
    assert_true(_has_segments(path));

    const char *args[16];
    _mig_args(args, ssd, "rocksdb");
    srv = harness_start(args);
    _assert_migrated(items, TO_ROCKSDB);
    _assert_no_log(ssd);
    _back_check(BACK_KEYS);
    printf("# moved back: ssd_items %llu, ssd_hits %llu\n",
           (unsigned long long)_stat("ssd_items"), (unsigned long long)_stat("ssd_hits"));
    _assert_items(items);
    harness_destroy(&srv);

    /* once more as RocksDB: nothing to move, nothing changed */
    srv = harness_start(args);
    assert_false(harness_log_contains(srv, TO_ROCKSDB));
    assert_false(harness_log_contains(srv, "persisted by ssd_backend vlog to RocksDB"));
    _back_check(BACK_KEYS);
    harness_destroy(&srv);

    /* and forward to a log again: the other migration takes RocksDB's records */
    _mig_args(args, ssd, "vlog");
    srv = harness_start(args);
    _assert_migrated(items, TO_LOG);
    _back_check(BACK_KEYS);
    harness_destroy(&srv);
    tier_rmdir(base_dir);
}

/* Fault builds: a kill while the log's records move to RocksDB (after 500 of them, once all
 * are synced but before the marker goes, after the marker went but before the segments do);
 * the next rocksdb start finds every key: the move done again (its partial copy deleted
 * first), or only the segments removed. */
static void test_kill_during_migration_back(void **state)
{
    (void)state;
    assert_true(tier_tmpdir(base_dir, sizeof(base_dir), "tier-vlog-backkill"));
    char ssd[300], orig[300], cmd[1200], path[400];
    snprintf(ssd, sizeof(ssd), "%s/ssd", base_dir);
    snprintf(orig, sizeof(orig), "%s/orig", base_dir);
    {
        const char *args[] = {"--memory", "8MiB", NULL};
        srv = harness_start(args);
        if (harness_skip_without_faults(&srv)) {
            tier_rmdir(base_dir);
            return;
        }
        harness_destroy(&srv);
    }
    uint64_t items = _back_fill_log(orig, KILL_KEYS);
    assert_true(items > 500);
    static const char *const points[] = {"500", "sealed", "marked"};
    for (int p = 0; p < 3; p++) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", ssd, orig, ssd);
        assert_int_equal(system(cmd), 0);
        int rc = _run_until_stop(base_dir, ssd, "rocksdb", points[p]);
        if (rc != 137) {
            snprintf(cmd, sizeof(cmd), "cat %s/kill-%s.txt >&2", base_dir, points[p]);
            (void)system(cmd);
            fail_msg("FAULT migrate-stop at %s: exit code %d, want 137", points[p], rc);
        }
        snprintf(path, sizeof(path), "%s/BACKEND", ssd);
        assert_int_equal(access(path, F_OK) == 0, p < 2); /* it goes at "marked" */
        snprintf(path, sizeof(path), "%s/vlog", ssd);
        assert_true(_has_segments(path));
        const char *args[16];
        _mig_args(args, ssd, "rocksdb");
        srv = harness_start(args);
        /* before the marker went the move runs again, its partial copy deleted first; after
         * it only the segments are left to remove */
        assert_int_equal(harness_log_contains(srv, TO_ROCKSDB), p < 2);
        assert_int_equal(harness_log_contains(srv, "a stopped move from the value log left"),
                         p < 2);
        assert_int_equal(harness_log_contains(srv, "left without its marker"), p == 2);
        if (p < 2)
            _assert_migrated(items, TO_ROCKSDB);
        _assert_no_log(ssd);
        printf("# killed at %s: every key back\n", points[p]);
        _back_check(KILL_KEYS);
        _assert_items(items);
        harness_destroy(&srv);
    }
    tier_rmdir(base_dir);
}

/* The way back without room for RocksDB's copy of the log. */
static void test_migration_back_without_room(void **state)
{
    (void)state;
    _no_room(&(struct room_case){.dir = "tier-vlog-backroom", .fill = _back_fill_log,
                                 .check = _back_check, .keys = BACK_KEYS, .from = "vlog",
                                 .to = "rocksdb", .refusal = "no room to move its value log",
                                 .what = "a way back without room", .marker = true,
                                 .dropped = "its value log is dropped", .probe = "back:1"});
}

/* ---- the hand ---- */

#define HOT 40

/* 4 MiB of segments of 512 KiB; about 6x the tier written. Hot keys are read from disk
 * between every 200 keys written: the hand finds their ref bits set and rewrites them at the
 * head, while the cold keys written with them leave the cache. */
static void test_hand_keeps_read_records(void **state)
{
    (void)state;
    cc_client *c = _client();
    /* no promotion: a key read stays on disk, where the hand sees its read */
    assert_int_equal(cc_config_set(c, "promote_window_s", "0"), CC_OK);
    _fill(c, "hot", 0, HOT, 0);
    /* 1000 x 4 KB, twice what the 2 MiB memory holds (about 500 of these), so the hot keys,
     * the oldest, are on disk before they are first read (a read in memory would keep them
     * there; memory's eviction is not strictly oldest first, 600 left half of them there) */
    _fill(c, "cold", 0, 1000, 0);
    uint64_t hits = _stat("ssd_hits");
    _read_back(c, "hot", 0, HOT, 0);
    printf("# %llu of the %d hot keys read from disk at first\n",
           (unsigned long long)(_stat("ssd_hits") - hits), HOT);
    assert_true(_stat("ssd_hits") >= hits + HOT / 2); /* they were read from disk */
    int cold = 1000;
    while ((uint64_t)(HOT + cold) * VLEN < 6 * 4 * MIB) {
        _fill(c, "cold", cold, cold + 200, 0);
        cold += 200;
        _read_back(c, "hot", 0, HOT, 0);
    }
    _print_stats("after the hot/cold load");
    hits = _stat("ssd_hits");
    _read_back(c, "hot", 0, HOT, 0);
    assert_true(_stat("ssd_hits") > hits); /* the hot keys are still on disk */
    assert_true(_stat("tier_evictions") > 0);
    assert_true(_stat("vlog_segments_dropped") > 0);
    assert_true(_stat("vlog_bytes_moved") > 0); /* hot records rewritten at the head */
    assert_true(_stat("ssd_disk_bytes") <= 4 * MIB);
    int gone = _count_missing(c, "cold", 0, 100);
    printf("# %d of cold keys 0..99 left the cache; %d cold keys written\n", gone, cold);
    assert_true(gone >= 50);
    assert_int_equal(_stat("checksum_errors"), 0);
    assert_int_equal(harness_ping(srv), 0);
    cc_client_destroy(&c);
}

/* ---- compaction ---- */

#define OW_KEYS 1000
#define OW_ROUNDS 5

/* 64 MiB of segments of 2 MiB (a 32nd): the hand never runs, yet overwriting every key five
 * times leaves most records dead; compaction removes the segments they fill. */
static void test_compaction_gives_back_dead_space(void **state)
{
    (void)state;
    cc_client *c = _client();
    _fill(c, "ow", 0, OW_KEYS, 0);
    for (int r = 1; r <= OW_ROUNDS; r++)
        _fill(c, "ow", 0, OW_KEYS, r);
    const uint64_t seg = 64 * MIB / 32;
    /* compaction runs between batches and every 100 ms when idle: give it a moment */
    for (int i = 0; i < 100; i++) {
        if (_stat("vlog_dead_bytes") * 100 <= _stat("vlog_segments") * seg * 40)
            break;
        usleep(50000);
    }
    _print_stats("after the overwrites");
    assert_true(_stat("demotions") > OW_KEYS * OW_ROUNDS / 2); /* the overwrites did reach disk */
    assert_true(_stat("vlog_segments_dropped") > 0 || _stat("vlog_bytes_moved") > 0);
    uint64_t dead = _stat("vlog_dead_bytes"), segs = _stat("vlog_segments");
    if (dead * 100 > segs * seg * 40)
        fail_msg("%llu dead bytes in %llu segments of %llu bytes: more than 40%%",
                 (unsigned long long)dead, (unsigned long long)segs, (unsigned long long)seg);
    _read_back(c, "ow", 0, OW_KEYS, OW_ROUNDS);
    assert_true(_stat("ssd_hits") > 0);
    assert_int_equal(_stat("checksum_errors"), 0);
    assert_int_equal(_stat("tier_evictions"), 0);
    cc_client_destroy(&c);
}

/* ---- expiry ---- */

#define TTL_KEYS 300
#define TTL_MS 2000

/* Keys that expired on disk are misses, and the hand drops their records (it does not
 * rewrite or keep them). */
static void test_expired_records_leave(void **state)
{
    (void)state;
    cc_client *c = _client();
    assert_int_equal(cc_config_set(c, "promote_window_s", "0"), CC_OK);
    uint64_t t0 = _now_ms();
    _write(c, "ttl", 0, TTL_KEYS, 0, TTL_MS);
    /* memory reclaims an item that expired instead of demoting it: push the ttl keys out
     * while they are alive, so their records are on disk when they expire */
    _fill(c, "early", 0, 700, 0);
    uint64_t pushed = _now_ms() - t0;
    printf("# ttl keys written and pushed to disk in %llu ms\n", (unsigned long long)pushed);
    if (pushed >= TTL_MS)
        fail_msg("writing the ttl keys and pushing them to disk took %llu ms, longer than "
                 "their ttl: the test proves nothing on this machine", (unsigned long long)pushed);
    uint64_t hits = _stat("ssd_hits");
    uint64_t expired_before = _stat("vlog_expired_dropped");
    assert_int_equal(expired_before, 0);
    /* sleep until 2.1 s after the ttl keys, then 2,000 more keys (8 MB through a 4 MiB tier):
     * the hand walks the segments holding the ttl keys after they expired */
    uint64_t el = _now_ms() - t0;
    if (el < TTL_MS + 100)
        usleep((useconds_t)(TTL_MS + 100 - el) * 1000);
    _fill(c, "push", 0, 2000, 0);
    _print_stats("after the push");
    assert_true(_stat("vlog_segments_dropped") > 0);
    assert_true(_stat("vlog_expired_dropped") > 0);
    char key[32];
    for (int i = 0; i < TTL_KEYS; i++) {
        snprintf(key, sizeof(key), "ttl:%d", i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc != CC_NOT_FOUND)
            fail_msg("key %s after its ttl: %s", key, cc_strstatus(rc));
    }
    assert_int_equal(_stat("ssd_hits"), hits); /* no expired key was a hit */
    assert_int_equal(_stat("checksum_errors"), 0);
    cc_client_destroy(&c);
}

/* FAULT vlog-sync-fail (fault builds): an fdatasync of the active segment fails after
 * acknowledged async writes. What the kernel kept of them is unknown, so the segment is
 * sealed where its last good sync ended and those records leave the index: after a restart
 * the keys written before the failure read back, the first ones written after the last good
 * sync are gone (a miss, never other bytes or an error), and writes after the tier is
 * healthy again go to a new segment and read back. */
static void test_failed_sync_seals_where_the_last_good_one_ended(void **state)
{
    (void)state;
    assert_true(tier_tmpdir(base_dir, sizeof(base_dir), "tier-vlog-sync"));
    char ssd_dir[300];
    snprintf(ssd_dir, sizeof(ssd_dir), "%s/ssd", base_dir);
    const char *args[] = {"--memory", "8MiB", "--ssd-path", ssd_dir, "--ssd-backend", "vlog",
                          "--persist", "async", "--persist-sync-ms", "100",
                          "--tier-compress-threshold", "100000", NULL};
    srv = harness_start(args);
    assert_non_null(srv);
    if (harness_skip_without_faults(&srv)) {
        tier_rmdir(base_dir);
        return;
    }
    cc_client *c = _client();
    enum { N = 50 };
    _write(c, "k", 0, N, 0, 0);
    _settle();
    usleep(400000); /* four syncs' time: k is durable */
    assert_int_equal(harness_fault(srv, "vlog-sync-fail", 1), 1);
    uint64_t errors = _stat("disk_errors");
    _write(c, "j", 0, N, 0, 0);
    uint64_t end = _now_ms() + 10000;
    while (_stat("disk_errors") == errors && _now_ms() < end)
        usleep(20000);
    assert_true(_stat("disk_errors") > errors);
    end = _now_ms() + 10000; /* the tier takes writes again (its probe, once a second) */
    while (!harness_log_contains(srv, "writes succeed again") && _now_ms() < end) {
        _write(c, "probe", 0, 1, 0, 0);
        usleep(100000);
    }
    _write(c, "m", 0, N, 0, 0);
    _settle();
    usleep(400000);
    cc_client_destroy(&c);
    harness_restart(srv);
    c = _client();
    _read_back(c, "k", 0, N, 0);
    _read_back(c, "m", 0, N, 0);
    char key[32], *want = malloc(VLEN);
    int missing = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "j:%d", i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc == CC_NOT_FOUND) {
            missing++;
            continue;
        }
        if (rc != CC_OK)
            fail_msg("key %s: %s (%s)", key, cc_strstatus(rc), cc_errmsg(c));
        _value(i, 0, want);
        if (it.value.len != VLEN || memcmp(it.value.data, want, VLEN) != 0)
            fail_msg("key %s: not the value written", key);
        cc_item_release(&it);
    }
    free(want);
    printf("# after the failed sync: %d of %d keys written since the last good one are gone\n",
           missing, N);
    if (missing == 0) {
        harness_print_log(srv, 20);
        fail_msg("every key written before the failed sync came back: the segment was not "
                 "sealed where the last good sync ended");
    }
    cc_client_destroy(&c);
    harness_destroy(&srv);
    srv = NULL;
    tier_rmdir(base_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_with_other_data_or_unknown),
        cmocka_unit_test(test_migrates_a_rocksdb_tier),
        cmocka_unit_test(test_clean_stop_seals_the_active_segment),
        cmocka_unit_test(test_kill_during_migration),
        cmocka_unit_test_teardown(test_migration_without_room, room_teardown),
        cmocka_unit_test(test_migrates_a_log_back_to_rocksdb),
        cmocka_unit_test(test_kill_during_migration_back),
        cmocka_unit_test_teardown(test_migration_back_without_room, room_teardown),
        cmocka_unit_test_setup_teardown(test_hand_keeps_read_records, setup_4m, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_gives_back_dead_space, setup_64m, teardown),
        cmocka_unit_test_setup_teardown(test_expired_records_leave, setup_4m, teardown),
        cmocka_unit_test(test_failed_sync_seals_where_the_last_good_one_ended),
    };
    return cmocka_run_group_tests_name("ssd tier on a value log", tests, NULL, NULL);
}
