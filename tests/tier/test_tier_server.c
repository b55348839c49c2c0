/* The SSD tier in a real cacheserverd: what memory evicts comes back from disk exactly;
 * deletes, overwrites, flushes and expiry are never undone by a stale disk copy; a damaged
 * tier directory stops start-up unless tier_start_empty says otherwise. The server runs
 * with demote_unread on, so every evicted item goes to the SSD (by default only items read
 * since they were written are demoted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cacheclient.h"
#include "harness.h"
#include "tier_client.h"

#define NKEYS 6000
#define VLEN 4000 /* 6000 x 4000 B = 24 MB: 12x the 2 MiB memory tier */

static struct harness *srv;
static char base_dir[256], ssd_dir[300];

static cc_client *_client(void) { return tier_client(srv); }

static void _value(int i, char *buf)
{
    for (int j = 0; j < VLEN; j++)
        buf[j] = (char)('a' + (i * 7 + j) % 26);
    snprintf(buf, 16, "v%08d", i); /* distinct prefix */
}

static uint64_t _stat(cc_client *c, const char *name)
{
    (void)c;
    return harness_stat(srv, name);
}

static int group_setup(void **state)
{
    (void)state;
    /* the harness gives every server a fresh directory; the tier goes beside its data */
    if (!tier_tmpdir(base_dir, sizeof(base_dir), "tier-ssd"))
        return -1;
    snprintf(ssd_dir, sizeof(ssd_dir), "%s/ssd", base_dir);
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd_dir, "--demote-unread", "true",
                          "--tier-queue", "100000", "--threads", "2", NULL};
    srv = harness_start(args);
    return srv ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    harness_destroy(&srv);
    return tier_rmdir(base_dir);
}

/* Wait until the writer has nothing queued. */
static void _settle(cc_client *c)
{
    for (int i = 0; i < 3000 && _stat(c, "tier_queue_depth") != 0; i++)
        usleep(10000);
    assert_int_equal(_stat(c, "tier_queue_depth"), 0);
}

static void test_fill_12x_and_read_every_key(void **state)
{
    (void)state;
    cc_client *c = _client();
    char key[32], *val = malloc(VLEN), *want = malloc(VLEN);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "fill:%d", i);
        _value(i, val);
        cc_value v = cc_value_bytes(val, VLEN);
        assert_int_equal(cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    _settle(c);
    assert_true(_stat(c, "demotions") > NKEYS / 2);
    assert_int_equal(_stat(c, "demote_dropped"), 0);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "fill:%d", i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc != CC_OK)
            fail_msg("key %s: %s (%s)", key, cc_strstatus(rc), cc_errmsg(c));
        _value(i, want);
        assert_int_equal(it.value.type, CC_TYPE_BYTES);
        assert_int_equal(it.value.len, VLEN);
        assert_memory_equal(it.value.data, want, VLEN);
        cc_item_release(&it);
    }
    assert_true(_stat(c, "ssd_hits") > NKEYS / 2);
    assert_true(_stat(c, "disk_read.ssd.count") >= _stat(c, "ssd_reads") / 2);
    assert_true(_stat(c, "disk_read.ssd.p50_us") <= _stat(c, "disk_read.ssd.max_us"));
    assert_int_equal(_stat(c, "checksum_errors"), 0);
    assert_int_equal(harness_ping(srv), 0);
    free(val);
    free(want);
    cc_client_destroy(&c);
}

/* Push key out of memory onto the SSD: write other keys until a read of it goes to disk. */
static void _evict_to_disk(cc_client *c, int round)
{
    char filler[32], *val = calloc(1, VLEN);
    memset(val, 'f', VLEN);
    cc_value v = cc_value_bytes(val, VLEN);
    for (int i = 0; i < 1500; i++) { /* 6 MB through a 2 MiB memory tier */
        snprintf(filler, sizeof(filler), "filler:%d:%d", round, i);
        assert_int_equal(cc_set(c, filler, strlen(filler), &v, 0, 0, 0, NULL), CC_OK);
    }
    free(val);
    _settle(c);
}

static void test_changes_win_over_disk_copies(void **state)
{
    (void)state;
    cc_client *c = _client();
    cc_value a = cc_value_bytes("old value", 9);
    const char *keys[] = {"chg:del", "chg:set", "chg:flush", "chg:ttl"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(cc_set(c, keys[i], strlen(keys[i]), &a, i == 3 ? 1000 : 0, 0, 0, NULL), CC_OK);
    _evict_to_disk(c, 1);
    /* ssd_hits, not ssd_reads: _settle sees the queue empty once the writer has taken the
     * last batch, which it may still be writing; meanwhile the SSD tier answers from that
     * queued copy, a hit without a read (this flaked under ASan on a busy machine) */
    uint64_t hits = _stat(c, "ssd_hits");
    cc_item it = {0};
    assert_int_equal(cc_get(c, "chg:set", 7, &it), CC_OK); /* from the SSD tier */
    assert_memory_equal(it.value.data, "old value", 9);
    cc_item_release(&it);
    assert_true(_stat(c, "ssd_hits") > hits);

    /* DEL of a key only the disk holds: gone, also from disk */
    const void *dk[] = {"chg:del"};
    size_t dl[] = {7};
    uint64_t deleted;
    assert_int_equal(cc_del(c, 1, dk, dl, &deleted), CC_OK);
    assert_int_equal(cc_get(c, "chg:del", 7, &it), CC_NOT_FOUND);
    /* SET over a disk copy: the new value, also after it is evicted again */
    cc_value b = cc_value_bytes("new value!", 10);
    assert_int_equal(cc_set(c, "chg:set", 7, &b, 0, 0, 0, NULL), CC_OK);
    assert_int_equal(cc_get(c, "chg:set", 7, &it), CC_OK);
    assert_int_equal(it.value.len, 10);
    cc_item_release(&it);
    _evict_to_disk(c, 2);
    assert_int_equal(cc_get(c, "chg:set", 7, &it), CC_OK);
    assert_int_equal(it.value.len, 10);
    assert_memory_equal(it.value.data, "new value!", 10);
    cc_item_release(&it);
    assert_int_equal(cc_get(c, "chg:del", 7, &it), CC_NOT_FOUND);
    /* expiry holds on disk */
    usleep(1100 * 1000);
    assert_int_equal(cc_get(c, "chg:ttl", 7, &it), CC_NOT_FOUND);
    /* FLUSH empties the disk tier too */
    assert_int_equal(cc_flush(c, NULL, NULL), CC_OK);
    assert_int_equal(cc_get(c, "chg:flush", 9, &it), CC_NOT_FOUND);
    assert_int_equal(cc_get(c, "fill:1", 6, &it), CC_NOT_FOUND);
    cc_client_destroy(&c);
}

/* A pipeline of reads that go to disk, with memory hits, an MGET and changes among them:
 * the server runs GETs behind GETs still waiting for the disk, yet every reply comes in
 * request order, and a change waits for the reads sent before it (a GET sent before a SET
 * or DEL of its key sees the old value, one sent after sees the change). */
#define PIPE_KEYS 120
static void test_pipelined_disk_reads_in_order(void **state)
{
    (void)state;
    cc_client *c = _client();
    char key[32], *val = malloc(VLEN), *want = malloc(VLEN);
    for (int i = 0; i < PIPE_KEYS; i++) {
        snprintf(key, sizeof(key), "pipe:%d", i);
        _value(i, val);
        cc_value v = cc_value_bytes(val, VLEN);
        assert_int_equal(cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    _evict_to_disk(c, 3);
    cc_value hot = cc_value_bytes("in memory", 9);
    assert_int_equal(cc_set(c, "pipe:hot", 8, &hot, 0, 0, 0, NULL), CC_OK);
    uint64_t reads = _stat(c, "ssd_reads");

    cc_batch *b = cc_batch_create(c);
    assert_non_null(b);
    enum { GET_OLD, GET_NEW, GET_GONE, GET_HOT, SET, DEL } kind[PIPE_KEYS * 2];
    int id[PIPE_KEYS * 2], n = 0;
    cc_value nv = cc_value_bytes("changed!", 8);
    for (int i = 0; i < PIPE_KEYS; i++) {
        snprintf(key, sizeof(key), "pipe:%d", i);
        assert_int_equal(cc_batch_get(b, key, strlen(key)), CC_OK);
        kind[n] = GET_OLD, id[n++] = i;
        if (i % 10 == 5) { /* a memory hit between disk reads */
            assert_int_equal(cc_batch_get(b, "pipe:hot", 8), CC_OK);
            kind[n] = GET_HOT, id[n++] = i;
        }
        if (i == 40) { /* changes of keys read before and after them */
            assert_int_equal(cc_batch_set(b, "pipe:40", 7, &nv, 0), CC_OK);
            kind[n] = SET, id[n++] = 40;
            assert_int_equal(cc_batch_del(b, "pipe:39", 7), CC_OK);
            kind[n] = DEL, id[n++] = 39;
        }
    }
    /* after the changes: the new value, the deleted key gone */
    assert_int_equal(cc_batch_get(b, "pipe:40", 7), CC_OK);
    kind[n] = GET_NEW, id[n++] = 40;
    assert_int_equal(cc_batch_get(b, "pipe:39", 7), CC_OK);
    kind[n] = GET_GONE, id[n++] = 39;
    const char *mk[3] = {"pipe:90", "pipe:39", "pipe:91"};
    size_t ml[3] = {7, 7, 7};
    assert_int_equal(cc_batch_mget(b, 3, (const void *const *)mk, ml), CC_OK);
    kind[n] = GET_OLD, id[n++] = 90;
    kind[n] = GET_GONE, id[n++] = 39;
    kind[n] = GET_OLD, id[n++] = 91;
    assert_int_equal((int)cc_batch_count(b), n);
    cc_result *res = calloc((size_t)n, sizeof(*res));
    assert_int_equal(cc_batch_exec(b, res), CC_OK);
    for (int j = 0; j < n; j++) {
        const cc_item *it = &res[j].item;
        switch (kind[j]) {
        case GET_OLD:
            if (res[j].status != CC_OK)
                fail_msg("result %d, GET pipe:%d: %s", j, id[j], cc_strstatus(res[j].status));
            _value(id[j], want);
            assert_int_equal(it->value.len, VLEN);
            if (memcmp(it->value.data, want, VLEN) != 0)
                fail_msg("result %d, GET pipe:%d: another key's or a newer value", j, id[j]);
            break;
        case GET_NEW:
            assert_int_equal(res[j].status, CC_OK);
            assert_int_equal(it->value.len, 8);
            assert_memory_equal(it->value.data, "changed!", 8);
            break;
        case GET_GONE:
            assert_int_equal(res[j].status, CC_NOT_FOUND);
            break;
        case GET_HOT:
            assert_int_equal(res[j].status, CC_OK);
            assert_int_equal(it->value.len, 9);
            assert_memory_equal(it->value.data, "in memory", 9);
            break;
        case SET:
            assert_int_equal(res[j].status, CC_OK);
            break;
        case DEL:
            assert_int_equal(res[j].status, CC_OK);
            assert_int_equal(res[j].num, 1);
            break;
        }
        cc_item_release(&res[j].item);
    }
    assert_true(_stat(c, "ssd_reads") >= reads + PIPE_KEYS / 2); /* they did go to disk */
    assert_int_equal(harness_ping(srv), 0);
    free(res);
    cc_batch_destroy(&b);
    free(val);
    free(want);
    cc_client_destroy(&c);
}

/* Commands other than GET on keys only the disk holds see their values, never a miss: the
 * server loads them back first. */
static void test_commands_on_disk_only_keys(void **state)
{
    (void)state;
    cc_client *c = _client();
    cc_value n = cc_value_int(40), b = cc_value_bytes("abcdef", 6), x = cc_value_bytes("x", 1);
    const char *names[] = {"do:incr", "do:append", "do:ttl", "do:strlen", "do:range", "do:nx",
                           "do:mget1", "do:mget2", "do:exists", "do:touch", "do:cas"};
    uint64_t cas_version = 0;
    for (int i = 0; i < 11; i++) {
        const cc_value *v = i == 0 ? &n : &b;
        assert_int_equal(cc_set(c, names[i], strlen(names[i]), v, i == 2 ? 600000 : 0, 0, 0,
                                i == 10 ? &cas_version : NULL), CC_OK);
    }
    /* read each once so the demotion filter keeps them (demote_unread is on anyway) */
    _evict_to_disk(c, 3);
    uint64_t reads = _stat(c, "ssd_reads");
    int64_t r;
    assert_int_equal(cc_incr(c, "do:incr", 7, 2, 0, 0, &r), CC_OK);
    assert_int_equal(r, 42);
    uint64_t len;
    assert_int_equal(cc_append(c, "do:append", 9, "gh", 2, 0, &len), CC_OK);
    assert_int_equal(len, 8);
    int64_t ttl;
    assert_int_equal(cc_ttl(c, "do:ttl", 6, &ttl), CC_OK);
    assert_true(ttl > 500000 && ttl <= 600000);
    assert_int_equal(cc_strlen(c, "do:strlen", 9, &len), CC_OK);
    assert_int_equal(len, 6);
    cc_item it = {0};
    assert_int_equal(cc_getrange(c, "do:range", 8, 2, 3, &it), CC_OK);
    assert_int_equal(it.value.len, 3);
    assert_memory_equal(it.value.data, "cde", 3);
    cc_item_release(&it);
    assert_int_equal(cc_set(c, "do:nx", 5, &x, 0, CC_SET_NX, 0, NULL), CC_NOT_STORED);
    const void *mk[] = {"do:mget1", "nope", "do:mget2"};
    size_t ml[] = {8, 4, 8};
    cc_item items[3];
    memset(items, 0, sizeof(items));
    assert_int_equal(cc_mget(c, 3, mk, ml, items), CC_OK);
    assert_true(items[0].found && !items[1].found && items[2].found);
    assert_memory_equal(items[2].value.data, "abcdef", 6);
    for (int i = 0; i < 3; i++)
        cc_item_release(&items[i]);
    const void *ek[] = {"do:exists", "nope"};
    size_t el[] = {9, 4};
    uint64_t count;
    assert_int_equal(cc_exists(c, 2, ek, el, &count), CC_OK);
    assert_int_equal(count, 1);
    assert_int_equal(cc_touch(c, "do:touch", 8, 5000), CC_OK);
    assert_int_equal(cc_set(c, "do:cas", 6, &x, 0, 0, cas_version, NULL), CC_OK);
    assert_true(_stat(c, "ssd_reads") >= reads + 10);
    /* and the results are what later reads see */
    assert_int_equal(cc_get(c, "do:append", 9, &it), CC_OK);
    assert_int_equal(it.value.len, 8);
    cc_item_release(&it);
    assert_int_equal(cc_get(c, "do:nx", 5, &it), CC_OK);
    assert_memory_equal(it.value.data, "abcdef", 6);
    cc_item_release(&it);
    assert_int_equal(cc_ttl(c, "do:touch", 8, &ttl), CC_OK);
    assert_true(ttl > 0 && ttl <= 5000);
    cc_client_destroy(&c);
}

static void test_damaged_directory_refused(void **state)
{
    (void)state;
    char dir[200], cmd[4096], out[300];
    snprintf(dir, sizeof(dir), "%s/tier-bad.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    /* a RocksDB directory whose CURRENT names a manifest that is not there */
    snprintf(cmd, sizeof(cmd), "mkdir -p %s/ssd && echo MANIFEST-000999 > %s/ssd/CURRENT && "
             "echo x > %s/ssd/IDENTITY", dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(out, sizeof(out), "%s/out.txt", dir);
    snprintf(cmd, sizeof(cmd), "timeout 20 '%s' --socket %s/s.sock --data-dir %s/data --ssd-path %s/ssd "
             ">%s 2>&1", getenv("CACHESERVERD"), dir, dir, dir, out);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
    snprintf(cmd, sizeof(cmd), "grep -q 'tier_start_empty' %s", out);
    assert_int_equal(system(cmd), 0);
    /* with tier_start_empty it starts (and stops on SIGTERM) */
    snprintf(cmd, sizeof(cmd), "'%s' --socket %s/s.sock --data-dir %s/data --ssd-path %s/ssd "
             "--tier-start-empty true >%s 2>&1 & pid=$!; for i in $(seq 100); do [ -S %s/s.sock ] && break; "
             "sleep 0.1; done; [ -S %s/s.sock ]; ok=$?; kill $pid; wait $pid; exit $ok",
             getenv("CACHESERVERD"), dir, dir, dir, out, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}


/* A tier path whose parents are missing (README's /var/lib/cache/ssd on a fresh machine)
 * is created, as the socket's directory is; one that cannot be created says so plainly, and
 * nothing that is not a damaged tier points at tier_start_empty. */
static void test_tier_directory_created_or_explained(void **state)
{
    (void)state;
    char dir[200], cmd[1024], out[300];
    snprintf(dir, sizeof(dir), "%s/tier-mk.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/out.txt", dir);
    /* missing parents: created, and the tier works */
    char ssd[300];
    snprintf(ssd, sizeof(ssd), "%s/x/does/not/exist/ssd", dir);
    const char *args[] = {"--ssd-path", ssd, "--memory", "8MiB", NULL};
    struct harness *h = harness_start(args);
    assert_non_null(h);
    srv = h;
    cc_client *c = _client();
    cc_value v = cc_value_bytes("on disk", 7);
    assert_int_equal(cc_set(c, "k", 1, &v, 0, 0, 0, NULL), CC_OK);
    cc_client_destroy(&c);
    harness_destroy(&h);
    srv = NULL;
    struct stat st;
    assert_int_equal(stat(ssd, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(cmd, sizeof(cmd), "%s/x/does/not/exist/ssd/CURRENT", dir);
    assert_int_equal(access(cmd, F_OK), 0);
    /* a parent that is a file: the directory cannot be created, and the message says so */
    snprintf(cmd, sizeof(cmd), "echo x > %s/plainfile", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(tier_run_server(out, "--socket %s/a.sock --data-dir %s/data --ssd-path "
                                          "%s/plainfile/ssd", dir), 0);
    if (!tier_file_contains(out, "cannot create the tier directory") ||
        !tier_file_contains(out, "Not a directory") || tier_file_contains(out, "tier_start_empty")) {
        system((snprintf(cmd, sizeof(cmd), "cat %s >&2", out), cmd));
        fail_msg("an uncreatable tier directory is not explained plainly");
    }
    /* a tier another server has open is not damaged either */
    snprintf(ssd, sizeof(ssd), "%s/shared", dir);
    const char *args2[] = {"--ssd-path", ssd, NULL};
    h = harness_start(args2);
    assert_non_null(h);
    assert_int_not_equal(tier_run_server(out, "--socket %s/b.sock --data-dir %s/data2 --ssd-path "
                                          "%s/shared", dir), 0);
    harness_destroy(&h);
    if (!tier_file_contains(out, "another process") || tier_file_contains(out, "tier_start_empty")) {
        system((snprintf(cmd, sizeof(cmd), "cat %s >&2", out), cmd));
        fail_msg("a tier in use by another server is reported as damaged");
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- two disk tiers ---- */

static struct harness *srv2;
static char base2[256];

static int hdd_setup(void **state)
{
    (void)state;
    snprintf(base2, sizeof(base2), "%s/tier-hdd.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(base2))
        return -1;
    char ssd[300], hdd[300];
    snprintf(ssd, sizeof(ssd), "%s/ssd", base2);
    snprintf(hdd, sizeof(hdd), "%s/hdd", base2);
    /* 2 MiB memory, 3 MiB SSD, 40 MiB HDD; values of 4000 bytes compress (letters) */
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd, "--ssd-size", "3MiB",
                          "--hdd-path", hdd, "--hdd-size", "40MiB", "--demote-unread", "true",
                          "--tier-queue", "100000", "--tier-compress-threshold", "100000",
                          "--threads", "2", NULL};
    srv2 = harness_start(args);
    srv = srv2; /* _client and _stat use srv */
    return srv2 ? 0 : -1;
}

static int hdd_teardown(void **state)
{
    (void)state;
    harness_destroy(&srv2);
    srv = NULL;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base2);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes keys [from, to) of prefix. */
static void _fill(cc_client *c, const char *prefix, int from, int to)
{
    char key[32], *val = malloc(VLEN);
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        _value(i, val);
        cc_value v = cc_value_bytes(val, VLEN);
        assert_int_equal(cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    free(val);
    _settle(c);
}

static void _read_back(cc_client *c, const char *prefix, int from, int to)
{
    char key[32], *want = malloc(VLEN);
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc != CC_OK)
            fail_msg("key %s: %s (%s); demote_dropped %llu tier_evictions %llu disk_errors %llu", key,
                     cc_strstatus(rc), cc_errmsg(c), (unsigned long long)_stat(c, "demote_dropped"),
                     (unsigned long long)_stat(c, "tier_evictions"),
                     (unsigned long long)_stat(c, "disk_errors"));
        _value(i, want);
        assert_int_equal(it.value.len, VLEN);
        assert_memory_equal(it.value.data, want, VLEN);
        cc_item_release(&it);
    }
    free(want);
}

static void test_ssd_sheds_coldest_to_hdd(void **state)
{
    (void)state;
    cc_client *c = _client();
    /* no promotion: the keys read stay on disk, where the CLOCK hand sees their reads */
    assert_int_equal(cc_config_set(c, "promote_window_s", "0"), CC_OK);
    /* 2000 x 4 KB = 8 MB: memory holds 2, the SSD at most 3, the rest must go to the HDD.
     * Keys 0..39 are read between every 200 keys written (a hot set on disk). */
    _fill(c, "h", 0, 600);
    _read_back(c, "h", 0, 40);
    for (int from = 600; from < 2000; from += 200) {
        _fill(c, "h", from, from + 200);
        _read_back(c, "h", 0, 40);
    }
    assert_true(_stat(c, "hdd_demotions") > 0);
    assert_true(_stat(c, "ssd_bytes") <= 3 * 1024 * 1024);
    assert_true(_stat(c, "hdd_items") > 0);
    assert_int_equal(_stat(c, "tier_evictions"), 0);
    /* the hot set was kept in memory or on the SSD, never moved to the HDD */
    uint64_t ssd_hits = _stat(c, "ssd_hits"), hdd_hits = _stat(c, "hdd_hits");
    uint64_t mem_hits = _stat(c, "hits");
    _read_back(c, "h", 0, 40);
    assert_int_equal(_stat(c, "hdd_hits"), hdd_hits);
    assert_int_equal(_stat(c, "ssd_hits") - ssd_hits + _stat(c, "hits") - mem_hits, 40);
    assert_true(_stat(c, "ssd_hits") > ssd_hits);
    /* every key comes back, from whichever tier holds it */
    _read_back(c, "h", 0, 2000);
    assert_true(_stat(c, "hdd_hits") > hdd_hits);
    /* a change wins over the HDD copy; a delete removes it everywhere */
    cc_value nv = cc_value_bytes("changed", 7);
    assert_int_equal(cc_set(c, "h:1", 3, &nv, 0, 0, 0, NULL), CC_OK);
    const void *dk[] = {"h:2"};
    size_t dl[] = {3};
    uint64_t deleted;
    assert_int_equal(cc_del(c, 1, dk, dl, &deleted), CC_OK);
    assert_int_equal(deleted, 1);
    _fill(c, "h2", 0, 600);
    cc_item it = {0};
    assert_int_equal(cc_get(c, "h:1", 3, &it), CC_OK);
    assert_int_equal(it.value.len, 7);
    cc_item_release(&it);
    assert_int_equal(cc_get(c, "h:2", 3, &it), CC_NOT_FOUND);
    cc_client_destroy(&c);
}

/* TTL holds on the HDD tier: keys moved there expire on time and are never returned. */
static void test_ttl_holds_on_the_hdd_tier(void **state)
{
    (void)state;
    cc_client *c = _client();
    assert_int_equal(cc_config_set(c, "promote_window_s", "0"), CC_OK);
    char key[32], *val = malloc(VLEN);
    for (int i = 0; i < 300; i++) { /* 1.2 MB that expire in 3 s, never read */
        snprintf(key, sizeof(key), "ttl:%d", i);
        _value(i, val);
        cc_value v = cc_value_bytes(val, VLEN);
        assert_int_equal(cc_set(c, key, strlen(key), &v, 3000, 0, 0, NULL), CC_OK);
    }
    free(val);
    _fill(c, "push", 0, 1500); /* 6 MB more: the oldest, the ttl keys, go on to the HDD */
    uint64_t hdd_hits = _stat(c, "hdd_hits");
    _read_back(c, "ttl", 0, 20);
    assert_true(_stat(c, "hdd_hits") > hdd_hits); /* some were read from the HDD */
    hdd_hits = _stat(c, "hdd_hits");
    usleep(3100 * 1000);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "ttl:%d", i);
        cc_item it = {0};
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc != CC_NOT_FOUND)
            fail_msg("key %s after its ttl: %s", key, cc_strstatus(rc));
    }
    assert_int_equal(_stat(c, "hdd_hits"), hdd_hits);
    cc_client_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_12x_and_read_every_key),
        cmocka_unit_test(test_commands_on_disk_only_keys),
        cmocka_unit_test(test_pipelined_disk_reads_in_order),
        cmocka_unit_test(test_changes_win_over_disk_copies),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_damaged_directory_refused),
        cmocka_unit_test(test_tier_directory_created_or_explained),
    };
    const struct CMUnitTest two[] = {
        cmocka_unit_test(test_ssd_sheds_coldest_to_hdd),
        cmocka_unit_test(test_ttl_holds_on_the_hdd_tier),
    };
    int failed = cmocka_run_group_tests_name("ssd tier", tests, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("ssd and hdd tiers", two, hdd_setup, hdd_teardown);
    return failed + cmocka_run_group_tests_name("damaged tier", alone, NULL, NULL);
}
