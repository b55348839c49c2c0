/* Streams on the SSD tier in a real cacheserverd: a 200 MiB value built with APPEND through
 * a 16 MiB memory tier lives on disk in chunks, reads back exactly by ranges (each range
 * reading only the chunks it covers), keeps memory bounded, and its chunks leave the disk
 * when the stream is deleted, replaced or expires. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cacheclient.h"
#include "diskval.h"
#include "harness.h"
#include "tier_client.h"
#include "tierdb.h"

#define MIB (1024u * 1024u)
#define CHUNK (256u * 1024u) /* the server's stream chunk */
/* Under a sanitizer, a 100 MiB stream (still six times the memory tier), the restart test's
 * large and cold streams halved (large still more than memory) and 3 kills instead of 5; the
 * plain build runs the full volume. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SAN_SCALE 2
#define STREAM_KILLS 3
#else
#define SAN_SCALE 1
#define STREAM_KILLS 5
#endif
#define BIG (200u / SAN_SCALE * MIB)

static struct harness *srv;
static char base_dir[256], ssd_dir[300];

/* Byte at offset o of every stream here: position-dependent, so a misplaced chunk shows. */
static uint8_t _byte(uint64_t o) { return (uint8_t)((o * 2654435761u) >> 11 ^ (o >> 18)); }

static void _fill(uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = _byte(off + i);
}

static uint64_t _stat(const char *name) { return harness_stat(srv, name); }

/* Append len bytes to key in pieces of up to 1 MiB; returns the new length. */
static uint64_t _append(cc_client *c, const char *key, uint64_t from, uint64_t len, uint64_t ttl)
{
    uint8_t *buf = malloc(MIB);
    assert_non_null(buf);
    uint64_t nl = 0;
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < MIB ? (size_t)(len - done) : MIB;
        _fill(buf, from + done, n);
        int rc = cc_append(c, key, strlen(key), buf, n, ttl, &nl);
        if (rc != CC_OK)
            fail_msg("APPEND at %llu: %s %s", (unsigned long long)(from + done),
                     cc_strstatus(rc), cc_errmsg(c));
        done += n;
    }
    free(buf);
    return nl;
}

/* GETRANGE and compare with the generator. */
static void _check_range(cc_client *c, const char *key, uint64_t off, uint64_t len,
                         uint64_t total)
{
    cc_item it = {0};
    int rc = cc_getrange(c, key, strlen(key), off, len, &it);
    if (rc != CC_OK)
        fail_msg("GETRANGE %llu+%llu: %s %s", (unsigned long long)off, (unsigned long long)len,
                 cc_strstatus(rc), cc_errmsg(c));
    uint64_t want = off >= total ? 0 : (total - off < len ? total - off : len);
    assert_int_equal(it.value.len, want);
    const uint8_t *d = it.value.data;
    for (uint64_t i = 0; i < want; i++)
        if (d[i] != _byte(off + i))
            fail_msg("GETRANGE %llu+%llu: byte %llu differs", (unsigned long long)off,
                     (unsigned long long)len, (unsigned long long)(off + i));
    cc_item_release(&it);
}

/* Wait until every chunk queued was written and memory was told. */
static void _settle(void)
{
    for (int i = 0; i < 3000 && _stat("stream_backlog_bytes") != 0; i++)
        usleep(10000);
    assert_int_equal(_stat("stream_backlog_bytes"), 0);
}

/* Wait until stream_disk_bytes is back to 0 (the chunks' delete ran). */
static void _wait_no_stream_bytes(void)
{
    for (int i = 0; i < 1000 && _stat("stream_disk_bytes") != 0; i++)
        usleep(10000);
    assert_int_equal(_stat("stream_disk_bytes"), 0);
}

static int group_setup(void **state)
{
    (void)state;
    if (!tier_tmpdir(base_dir, sizeof(base_dir), "tier-streams"))
        return -1;
    snprintf(ssd_dir, sizeof(ssd_dir), "%s/ssd", base_dir);
    const char *args[] = {"--memory", "16MiB", "--ssd-path", ssd_dir, "--ssd-size", "1GiB",
                          "--stream-spill-size", "4MiB", "--threads", "2", NULL};
    srv = harness_start(args);
    return srv ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    harness_destroy(&srv);
    return tier_rmdir(base_dir);
}

static void test_200mib_stream_read_back_by_ranges(void **state)
{
    (void)state;
    cc_client *c = tier_client(srv);
    assert_int_equal(_append(c, "big", 0, BIG, 0), BIG);
    _settle();
    uint64_t len = 0;
    assert_int_equal(cc_strlen(c, "big", 3, &len), CC_OK);
    assert_int_equal(len, BIG);
    /* memory holds a bounded part: far less than the 16 MiB tier, let alone 200 MiB */
    assert_true(_stat("bytes_used") < 16 * MIB);
    assert_true(_stat("stream_chunks_written") >= BIG / CHUNK - 1);
    /* the generator's bytes compress: the records are smaller than the chunks */
    uint64_t on_disk = _stat("stream_disk_bytes");
    assert_true(on_disk > 0 && on_disk < BIG);
    /* every byte back, by ranges that start and end inside chunks */
    const uint64_t step = 3 * MIB + 12345;
    for (uint64_t off = 0; off < BIG; off += step)
        _check_range(c, "big", off, step, BIG);
    /* a range reads only the chunks it covers */
    uint64_t reads = _stat("stream_chunk_reads");
    _check_range(c, "big", 77 * CHUNK + 100, 1000, BIG);
    assert_int_equal(_stat("stream_chunk_reads") - reads, 1);
    reads = _stat("stream_chunk_reads");
    _check_range(c, "big", 90 * CHUNK - 10, 20, BIG);
    assert_int_equal(_stat("stream_chunk_reads") - reads, 2);
    /* the end: disk chunks and the last one in memory, and past the end */
    _check_range(c, "big", BIG - CHUNK - 5000, CHUNK + 10000, BIG);
    _check_range(c, "big", BIG + 10, 100, BIG);
    /* appends go on after the spill */
    assert_int_equal(_append(c, "big", BIG, MIB + 7, 0), BIG + MIB + 7);
    _check_range(c, "big", BIG - 100, MIB + 1000, BIG + MIB + 7);
    /* GET of a stream above max_value_size still says so */
    cc_item it = {0};
    assert_int_equal(cc_get(c, "big", 3, &it), CC_E_VALUE_TOO_LARGE);
    /* a delete takes the chunks off the disk */
    const void *k[] = {"big"};
    size_t kl[] = {3};
    uint64_t deleted = 0;
    assert_int_equal(cc_del(c, 1, k, kl, &deleted), CC_OK);
    assert_int_equal(deleted, 1);
    _wait_no_stream_bytes();
    assert_int_equal(cc_getrange(c, "big", 3, 0, 10, &it), CC_NOT_FOUND);
    cc_client_destroy(&c);
}

static void test_get_and_mget_of_streams_on_disk(void **state)
{
    (void)state;
    cc_client *c = tier_client(srv);
    const uint64_t n1 = 6 * MIB + 333, n2 = 5 * MIB;
    _append(c, "s1", 0, n1, 0);
    _append(c, "s2", 0, n2, 0);
    cc_value v = cc_value_bytes("plain", 5);
    assert_int_equal(cc_set(c, "p", 1, &v, 0, 0, 0, NULL), CC_OK);
    _settle();
    assert_true(_stat("stream_chunks_written") >= 40);
    uint64_t reads = _stat("stream_chunk_reads");
    cc_item it = {0};
    assert_int_equal(cc_get(c, "s1", 2, &it), CC_OK);
    assert_int_equal(it.value.len, n1);
    for (uint64_t i = 0; i < n1; i++)
        if (((const uint8_t *)it.value.data)[i] != _byte(i))
            fail_msg("GET s1: byte %llu differs", (unsigned long long)i);
    cc_item_release(&it);
    assert_true(_stat("stream_chunk_reads") > reads);
    const void *keys[] = {"s2", "missing", "p", "s1"};
    size_t kl[] = {2, 7, 1, 2};
    cc_item items[4] = {0};
    assert_int_equal(cc_mget(c, 4, keys, kl, items), CC_OK);
    assert_true(items[0].found && items[2].found && items[3].found);
    assert_false(items[1].found);
    assert_int_equal(items[0].value.len, n2);
    assert_int_equal(items[3].value.len, n1);
    assert_memory_equal(items[2].value.data, "plain", 5);
    for (uint64_t i = 0; i < n2; i++)
        if (((const uint8_t *)items[0].value.data)[i] != _byte(i))
            fail_msg("MGET s2: byte %llu differs", (unsigned long long)i);
    for (int i = 0; i < 4; i++)
        cc_item_release(&items[i]);
    /* replacing a stream by a plain value drops its chunks */
    assert_int_equal(cc_set(c, "s1", 2, &v, 0, 0, 0, NULL), CC_OK);
    assert_int_equal(cc_set(c, "s2", 2, &v, 0, 0, 0, NULL), CC_OK);
    _wait_no_stream_bytes();
    cc_client_destroy(&c);
}

static void test_expired_stream_leaves_the_disk(void **state)
{
    (void)state;
    cc_client *c = tier_client(srv);
    uint64_t written = _stat("stream_chunks_written");
    _append(c, "ttl", 0, 8 * MIB, 1500);
    _settle();
    assert_true(_stat("stream_chunks_written") - written >= 16);
    assert_true(_stat("stream_disk_bytes") > 0);
    _check_range(c, "ttl", 5 * MIB, 1000, 8 * MIB);
    usleep(1600 * 1000);
    cc_item it = {0};
    assert_int_equal(cc_getrange(c, "ttl", 3, 5 * MIB, 1000, &it), CC_NOT_FOUND);
    _wait_no_stream_bytes();
    cc_client_destroy(&c);
}

/* ---- with persistence: streams survive restarts and crashes ---- */

static char pbase[256], pssd[300];

static int persist_setup(void **state)
{
    (void)state;
    if (!tier_tmpdir(pbase, sizeof(pbase), "tier-pstreams"))
        return -1;
    snprintf(pssd, sizeof(pssd), "%s/ssd", pbase);
    return 0;
}

static int persist_teardown(void **state)
{
    (void)state;
    if (srv) /* a failed test left it running */
        harness_destroy(&srv);
    return tier_rmdir(pbase);
}

/* No server left by a failed test, an empty tier directory. */
static void _fresh_persist_dir(void)
{
    if (srv)
        harness_destroy(&srv);
    tier_rmdir(pssd);
}

/* Wait for the warm restart to finish (it counts the stream chunks on disk). */
static void _wait_restored(void)
{
    for (int i = 0; i < 1000 && _stat("restore_ms") == 0; i++)
        usleep(10000);
    assert_true(_stat("restore_ms") > 0);
}

static struct harness *_start_persist(const char *mode)
{
    const char *args[] = {"--memory", "16MiB", "--ssd-path", pssd, "--ssd-size", "1GiB",
                          "--persist", mode, "--threads", "2", NULL};
    struct harness *h = harness_start(args);
    assert_non_null(h);
    return h;
}

static int64_t _mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_streams_survive_a_clean_restart(void **state)
{
    (void)state;
    _fresh_persist_dir();
    srv = _start_persist("async");
    cc_client *c = tier_client(srv);
    /* one inside a chunk, one across chunks, one far larger than memory, one with a ttl */
    const uint64_t ns[] = {1000, 3 * MIB + 17, 40 / SAN_SCALE * MIB, 300 * 1024};
    const char *keys[] = {"small", "mid", "large", "ttl"};
    int64_t ttl_set = 0;
    for (int i = 0; i < 4; i++) {
        if (i == 3)
            ttl_set = _mono_ms();
        assert_int_equal(_append(c, keys[i], 0, ns[i], i == 3 ? 120000 : 0), ns[i]);
    }
    const uint64_t cold = 12 / SAN_SCALE * MIB;
    assert_int_equal(_append(c, "cold", 0, cold, 0), cold); /* not read again */
    cc_value v = cc_value_bytes("plain", 5);
    assert_int_equal(cc_set(c, "plain", 5, &v, 0, 0, 0, NULL), CC_OK);
    cc_client_destroy(&c);
    harness_restart(srv);
    c = tier_client(srv);
    for (int i = 0; i < 4; i++) {
        uint64_t len = 0;
        assert_int_equal(cc_strlen(c, keys[i], strlen(keys[i]), &len), CC_OK);
        assert_int_equal(len, ns[i]);
        for (uint64_t off = 0; off < ns[i]; off += 5 * MIB + 3)
            _check_range(c, keys[i], off, 5 * MIB + 3, ns[i]);
    }
    int64_t ttl = 0;
    assert_int_equal(cc_ttl(c, "ttl", 3, &ttl), CC_OK);
    /* what is left of the 120 s, however long the restart and the reads took (a loaded
     * machine: 20 s and more under ASan) */
    int64_t left = 120000 - (_mono_ms() - ttl_set);
    if (ttl < left - 2000 || ttl > 120000)
        fail_msg("ttl %lld ms after the restart, expected about %lld", (long long)ttl,
                 (long long)left);
    /* a restored stream takes appends; a deleted one leaves the disk */
    assert_int_equal(_append(c, "mid", ns[1], MIB, 0), ns[1] + MIB);
    _check_range(c, "mid", ns[1] - 100, 200, ns[1] + MIB);
    const void *dk[] = {"large"};
    size_t dl[] = {5};
    uint64_t deleted = 0;
    assert_int_equal(cc_del(c, 1, dk, dl, &deleted), CC_OK);
    assert_int_equal(deleted, 1);
    for (int i = 0; i < 500 && _stat("stream_disk_bytes") > 20 / SAN_SCALE * MIB; i++)
        usleep(10000);
    assert_true(_stat("stream_disk_bytes") < 20 / SAN_SCALE * MIB);
    cc_client_destroy(&c);
    /* again: the append made after the first restart is kept too, the delete holds */
    harness_restart(srv);
    c = tier_client(srv);
    _check_range(c, "mid", 0, ns[1] + MIB, ns[1] + MIB);
    cc_item it = {0};
    assert_int_equal(cc_getrange(c, "large", 5, 0, 10, &it), CC_NOT_FOUND);
    assert_int_equal(cc_get(c, "plain", 5, &it), CC_OK);
    cc_item_release(&it);
    /* a stream only on disk (not read since the restart) deleted: its chunks go too */
    _wait_restored();
    uint64_t before = _stat("stream_disk_bytes");
    const void *ck[] = {"cold"};
    size_t cl[] = {4};
    assert_int_equal(cc_del(c, 1, ck, cl, &deleted), CC_OK);
    assert_int_equal(deleted, 1);
    for (int i = 0; i < 500 && _stat("stream_disk_bytes") >= before; i++)
        usleep(10000);
    assert_true(_stat("stream_disk_bytes") < before);
    cc_client_destroy(&c);
    /* the next start finds the chunks of small, mid and ttl, and no orphans (cold's would
     * be: no head names them) */
    harness_restart(srv);
    _wait_restored();
    if (!harness_log_contains(srv, "3 streams on disk, 0 streams' orphaned chunks deleted")) {
        harness_print_log(srv, 20);
        fail_msg("the restart found other stream chunks than those of small, mid and ttl");
    }
    harness_destroy(&srv);
    tier_rmdir(pssd);
}

/* Child: append 64 KiB pieces to "log" until the server dies; *acked is the length the
 * server acknowledged last. */
static void _append_load(const char *sock, volatile uint64_t *acked)
{
    cc_client *c = tier_client_at(sock, 5000);
    if (!c)
        _exit(2);
    uint8_t *buf = malloc(64 * 1024);
    for (uint64_t off = *acked;; off += 64 * 1024) {
        _fill(buf, off, 64 * 1024);
        uint64_t nl;
        if (cc_append(c, "log", 3, buf, 64 * 1024, 0, &nl) != CC_OK)
            break;
        *acked = nl;
    }
    _exit(0);
}

static void test_kill9_sync_keeps_every_acknowledged_append(void **state)
{
    (void)state;
    _fresh_persist_dir();
    srv = _start_persist("sync");
    volatile uint64_t *acked = mmap(NULL, sizeof(*acked), PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(acked != MAP_FAILED);
    *acked = 0;
    for (int r = 0; r < STREAM_KILLS; r++) {
        uint64_t before = *acked;
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0)
            _append_load(harness_socket(srv), acked);
        usleep((useconds_t)(300000 + 400000 * r / (STREAM_KILLS - 1))); /* 0.3 .. 0.7 s */
        harness_kill(srv, SIGKILL);
        int st;
        waitpid(child, &st, 0);
        harness_respawn(srv);
        cc_client *c = tier_client(srv);
        uint64_t len = 0;
        int rc = cc_strlen(c, "log", 3, &len);
        if (rc != CC_OK && !(rc == CC_NOT_FOUND && *acked == 0))
            fail_msg("kill %d: %llu bytes acknowledged; STRLEN: %s %s", r,
                     (unsigned long long)*acked, cc_strstatus(rc), cc_errmsg(c));
        /* every acknowledged byte is there; at most the append in flight more */
        if (len < *acked || len > *acked + 64 * 1024)
            fail_msg("kill %d: %llu bytes acknowledged, %llu after the restart", r,
                     (unsigned long long)*acked, (unsigned long long)len);
        assert_true(*acked > before);
        *acked = len; /* the next round appends from where the stream ends */
        for (uint64_t off = 0; off < len; off += 4 * MIB)
            _check_range(c, "log", off, 4 * MIB, len);
        cc_client_destroy(&c);
    }
    printf("# sync: %d kills during APPENDs, %llu bytes kept, every acknowledged one\n",
           STREAM_KILLS, (unsigned long long)*acked);
    munmap((void *)acked, sizeof(*acked));
    harness_destroy(&srv);
    tier_rmdir(pssd);
}

/* Append records of stream sid at offsets [at, at + n) of one byte each, as a run killed
 * after writing them and before their heads would leave them (the server stopped). */
static void _put_lost_appends(uint64_t at, const size_t *lens, int n)
{
    struct tierdb_opts o = {.path = pssd};
    char err[512];
    struct tierdb *db = tierdb_open(&o, err, sizeof(err));
    if (!db)
        fail_msg("opening the tier's RocksDB: %s", err);
    /* the one stream's id and its records' value type, from its first append record */
    struct tierdb_iter *it = tierdb_iter_from(db, "\xfd", 1);
    const uint8_t *key, *val;
    size_t klen, vlen;
    assert_true(tierdb_iter_next(it, &key, &klen, &val, &vlen));
    assert_int_equal(klen, 17);
    assert_int_equal(key[0], 0xfd);
    uint8_t dk[17];
    memcpy(dk, key, 9);
    struct diskval first;
    assert_true(diskval_peek(val, vlen, &first));
    tierdb_iter_free(it);
    for (int i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++)
            dk[9 + b] = (uint8_t)(at >> (56 - 8 * b));
        uint8_t *junk = malloc(lens[i]);
        assert_non_null(junk);
        memset(junk, 0xee, lens[i]);
        struct diskval v = {.type = first.type, .data = junk, .len = lens[i]};
        struct diskval_opts dopts = {.zstd_level = 1, .compress_threshold = 1u << 30};
        uint8_t *enc;
        size_t elen;
        bool comp;
        assert_int_equal(diskval_encode(&v, &dopts, &enc, &elen, &comp), DISKVAL_OK);
        if (tierdb_put(db, dk, sizeof(dk), enc, elen, true, err, sizeof(err)) != 0)
            fail_msg("writing an append record: %s", err);
        free(enc);
        free(junk);
        at += lens[i];
    }
    tierdb_close(db);
}

/* A run killed between a batch's stream records and its heads (a value log writes the
 * heads second) leaves append records past the head the next start serves. Appends made
 * after that start, of other lengths, must not be read back with those records' bytes in
 * them (crash loop, async on a log: "no record header at byte 4226 of 6856"). */
static void test_appends_a_lost_head_left_are_not_read_back(void **state)
{
    (void)state;
    _fresh_persist_dir();
    srv = _start_persist("sync");
    cc_client *c = tier_client(srv);
    assert_int_equal(_append(c, "torn", 0, 3000, 0), 3000);
    cc_client_destroy(&c);
    assert_int_equal(harness_stop(srv), 0);
    /* two appends of 50 and 1000 bytes whose heads were lost */
    const size_t lost[] = {50, 1000};
    _put_lost_appends(3000, lost, 2);
    harness_respawn(srv);
    c = tier_client(srv);
    _check_range(c, "torn", 0, 5000, 3000); /* the head's 3000 bytes: loaded into memory */
    /* two appends of 100: the second starts inside the lost 1000 */
    assert_int_equal(_append(c, "torn", 3000, 100, 0), 3100);
    assert_int_equal(_append(c, "torn", 3100, 100, 0), 3200);
    cc_client_destroy(&c);
    harness_kill(srv, SIGKILL); /* sync: every acknowledged append is on disk */
    harness_respawn(srv);
    c = tier_client(srv);
    _check_range(c, "torn", 0, 5000, 3200);
    cc_client_destroy(&c);
    harness_destroy(&srv);
    tier_rmdir(pssd);
}

/* FLUSH of one namespace takes its streams' chunk and append records off the disk, and off
 * stream_disk_bytes, at once: those of a stream only on disk (its head was restored, not
 * read since) as well as those of one memory holds; another namespace's streams stay whole.
 * A namespace's FLUSH is a range delete of its key records, which are only the heads: the
 * chunks (keyed by stream id) must be found through them. */
static void test_flush_of_a_namespace_deletes_its_streams_chunks(void **state)
{
    (void)state;
    _fresh_persist_dir();
    srv = _start_persist("async");
    cc_client *a = tier_client(srv), *b = tier_client(srv);
    assert_int_equal(cc_select_ns(a, "nsa"), CC_OK);
    assert_int_equal(cc_select_ns(b, "nsb"), CC_OK);
    assert_int_equal(_append(a, "a1", 0, 12 * MIB, 0), 12 * MIB);
    _settle();
    uint64_t a1_chunks = _stat("stream_disk_bytes"); /* its full chunks' records */
    assert_true(a1_chunks > 0);
    assert_int_equal(_append(b, "b1", 0, 12 * MIB + 5, 0), 12 * MIB + 5);
    _settle();
    assert_true(_stat("stream_disk_bytes") > a1_chunks);
    cc_client_destroy(&a);
    cc_client_destroy(&b);
    /* after the restart a1 and b1 are heads on disk only, their bytes counted exactly */
    harness_restart(srv);
    _wait_restored();
    if (!harness_log_contains(srv, "2 streams on disk, 0 streams' orphaned chunks deleted")) {
        harness_print_log(srv, 20);
        fail_msg("the first restart did not find the chunks of a1 and b1");
    }
    uint64_t both = _stat("stream_disk_bytes");
    a = tier_client(srv);
    b = tier_client(srv);
    assert_int_equal(cc_select_ns(a, "nsa"), CC_OK);
    assert_int_equal(cc_select_ns(b, "nsb"), CC_OK);
    /* a2: a stream of nsa in memory, its full chunks on disk */
    assert_int_equal(_append(a, "a2", 0, 6 * MIB, 0), 6 * MIB);
    _settle();
    uint64_t with_a2 = _stat("stream_disk_bytes");
    assert_true(with_a2 > both);
    uint64_t disk_before = _stat("ssd_disk_bytes");
    assert_true(disk_before > 0);
    printf("# before the FLUSH: stream_disk_bytes %llu (a1 and b1 %llu), ssd_disk_bytes %llu\n",
           (unsigned long long)with_a2, (unsigned long long)both,
           (unsigned long long)disk_before);
    uint64_t removed = 0;
    assert_int_equal(cc_flush(a, "nsa", &removed), CC_OK);
    /* The writer deletes the records of both (bounded wait: 5 s). The stat drops by at
     * least their bytes: a1's full chunks (a1_chunks, its last chunk's record besides) and
     * a2's; a delete takes off the records' uncompressed size (saturating), more than these
     * compressible bytes take, so it may drop by more (to 0). */
    uint64_t want = both > a1_chunks ? both - a1_chunks : 0;
    for (int i = 0; i < 500 && _stat("stream_disk_bytes") > want; i++)
        usleep(10000);
    uint64_t after = _stat("stream_disk_bytes");
    printf("# after the FLUSH of nsa: stream_disk_bytes %llu (at most %llu wanted)\n",
           (unsigned long long)after, (unsigned long long)want);
    if (after > want)
        fail_msg("stream_disk_bytes %llu after the FLUSH of nsa, %llu before: its streams' "
                 "records (at least %llu bytes) were not taken off", (unsigned long long)after,
                 (unsigned long long)with_a2, (unsigned long long)(with_a2 - want));
    cc_item it = {0};
    assert_int_equal(cc_getrange(a, "a1", 2, 0, 10, &it), CC_NOT_FOUND);
    assert_int_equal(cc_getrange(a, "a2", 2, 0, 10, &it), CC_NOT_FOUND);
    /* nsb's stream reads back byte for byte */
    for (uint64_t off = 0; off < 12 * MIB + 5; off += 3 * MIB + 7)
        _check_range(b, "b1", off, 3 * MIB + 7, 12 * MIB + 5);
    cc_client_destroy(&a);
    cc_client_destroy(&b);
    /* the records are gone from the tier: the next start finds b1's alone, no orphans */
    harness_restart(srv);
    _wait_restored();
    if (!harness_log_contains(srv, "1 streams on disk, 0 streams' orphaned chunks deleted")) {
        harness_print_log(srv, 20);
        fail_msg("after the FLUSH of nsa, the restart found stream records of nsa");
    }
    b = tier_client(srv);
    assert_int_equal(cc_select_ns(b, "nsb"), CC_OK);
    _check_range(b, "b1", 0, 12 * MIB + 5, 12 * MIB + 5);
    /* counted again from the records: b1's alone */
    uint64_t b1_only = _stat("stream_disk_bytes");
    assert_true(b1_only > 0 && b1_only <= both - a1_chunks);
    cc_client_destroy(&b);
    /* a restart right after the FLUSH: no orphans either (the writer walks nsa's heads in
     * its next steps; a clean stop finishes a walk still under way) */
    a = tier_client(srv);
    assert_int_equal(cc_select_ns(a, "nsa"), CC_OK);
    assert_int_equal(_append(a, "a3", 0, 6 * MIB, 0), 6 * MIB);
    cc_client_destroy(&a);
    harness_restart(srv);
    _wait_restored();
    if (!harness_log_contains(srv, "2 streams on disk, 0 streams' orphaned chunks deleted")) {
        harness_print_log(srv, 20);
        fail_msg("the restart did not find the chunks of b1 and a3");
    }
    a = tier_client(srv);
    assert_int_equal(cc_flush(a, "nsa", &removed), CC_OK);
    cc_client_destroy(&a);
    harness_restart(srv);
    _wait_restored();
    b = tier_client(srv);
    assert_int_equal(cc_select_ns(b, "nsb"), CC_OK);
    _check_range(b, "b1", 0, 12 * MIB + 5, 12 * MIB + 5);
    cc_client_destroy(&b);
    a = tier_client(srv);
    assert_int_equal(cc_select_ns(a, "nsa"), CC_OK);
    assert_int_equal(cc_getrange(a, "a3", 2, 0, 10, &it), CC_NOT_FOUND);
    cc_client_destroy(&a);
    /* the log keeps every start's lines: the earlier restart's "1 streams" line matches
     * too; a3's records left behind would show as an orphan at this one */
    if (!harness_log_contains(srv, "1 streams on disk, 0 streams' orphaned chunks deleted") ||
        harness_log_contains(srv, "1 streams on disk, 1 streams' orphaned chunks deleted")) {
        harness_print_log(srv, 20);
        fail_msg("a stop right after the FLUSH of nsa left a3's records as orphans");
    }
    harness_destroy(&srv);
    tier_rmdir(pssd);
}

int main(void)
{
    const struct CMUnitTest persisted[] = {
        cmocka_unit_test(test_streams_survive_a_clean_restart),
        cmocka_unit_test(test_kill9_sync_keeps_every_acknowledged_append),
        cmocka_unit_test(test_appends_a_lost_head_left_are_not_read_back),
        cmocka_unit_test(test_flush_of_a_namespace_deletes_its_streams_chunks),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200mib_stream_read_back_by_ranges),
        cmocka_unit_test(test_get_and_mget_of_streams_on_disk),
        cmocka_unit_test(test_expired_stream_leaves_the_disk),
    };
    int failed = cmocka_run_group_tests_name("streams on the ssd tier", tests, group_setup,
                                             group_teardown);
    return failed + cmocka_run_group_tests_name("persisted streams", persisted, persist_setup,
                                                persist_teardown);
}
