/* The disk tiers' building blocks: the value format (round trip, compression only when it
 * pays, any corrupt byte detected, expiry, little-endian on any host and the other byte
 * order refused) and the RocksDB tier (put/get/delete, reopen, the expiry compaction filter,
 * a corrupt directory refused unless started empty). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "diskval.h"
#include "tierdb.h"

static uint64_t fake_now = 1000000;
static uint64_t now_ms(void) { return fake_now; }

static void test_crc32c_known_value(void **state)
{
    (void)state;
    /* the standard check value of CRC-32C */
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283);
    assert_int_equal(crc32c_table(0, "123456789", 9), 0xE3069283);
    /* the CPU's instruction (when crc32c uses it) and the table agree, at every length and
     * alignment, extended in two pieces too */
    static uint8_t buf[4096 + 8];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    for (size_t len = 0; len <= 300; len++)
        for (size_t off = 0; off < 8; off++)
            assert_int_equal(crc32c(7, buf + off, len), crc32c_table(7, buf + off, len));
    assert_int_equal(crc32c(crc32c(0, buf, 1000), buf + 1000, 3000), crc32c_table(0, buf, 4000));
    /* incremental == one shot, across the 8-byte fast path */
    const char *s = "the quick brown fox jumps over the lazy dog";
    uint32_t a = crc32c(crc32c(0, s, 13), s + 13, strlen(s) - 13);
    assert_int_equal(a, crc32c(0, s, strlen(s)));
}

static void round_trip(size_t len, int pattern, bool want_compressed)
{
    uint8_t *data = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        data[i] = pattern ? (uint8_t)('a' + i % 7) : (uint8_t)rand();
    struct diskval v = {.type = 4, .expire_ms = 0, .version = 77, .hlc = 99, .data = data, .len = len};
    struct diskval_opts o = {.zstd_level = 3, .compress_threshold = 64};
    uint8_t *enc, *owned;
    size_t elen;
    bool comp;
    assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
    assert_int_equal(comp, want_compressed);
    if (comp)
        assert_true(elen < len);
    struct diskval out;
    assert_int_equal(diskval_decode(enc, elen, fake_now, &out, &owned), DISKVAL_OK);
    assert_int_equal(out.len, len);
    assert_int_equal(out.type, 4);
    assert_int_equal(out.version, 77);
    assert_int_equal(out.hlc, 99);
    assert_memory_equal(out.data, data, len);
    free(owned);
    free(enc);
    free(data);
}

static void test_round_trip_and_compression(void **state)
{
    (void)state;
    srand(3);
    round_trip(0, 1, false);
    round_trip(10, 1, false);        /* below the threshold */
    round_trip(100000, 1, true);     /* compressible */
    round_trip(100000, 0, false);    /* random bytes: stored raw */
}

/* A replicated counter's state travels after its value (flag 2), compressed or not, and
 * comes back apart from it; a record without one has none. */
static void test_counter_state_round_trip(void **state)
{
    (void)state;
    uint8_t val[9] = {0xd3, 0, 0, 0, 0, 0, 0, 0, 42}, ctr[400];
    for (size_t i = 0; i < sizeof(ctr); i++)
        ctr[i] = (uint8_t)(i % 3); /* compressible: the zstd path too */
    for (int threshold = 0; threshold < 2; threshold++) {
        struct diskval v = {.type = 2, .version = 5, .data = val, .len = sizeof(val),
                            .ctr = ctr, .ctr_len = sizeof(ctr)};
        struct diskval_opts o = {.zstd_level = 3, .compress_threshold = threshold ? 64 : 1u << 20};
        uint8_t *enc, *owned;
        size_t elen;
        bool comp;
        assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
        assert_int_equal(comp, threshold == 1);
        assert_int_equal(enc[2] & DISKVAL_CTR, DISKVAL_CTR);
        struct diskval out;
        assert_int_equal(diskval_decode(enc, elen, fake_now, &out, &owned), DISKVAL_OK);
        assert_int_equal(out.len, sizeof(val));
        assert_memory_equal(out.data, val, sizeof(val));
        assert_int_equal(out.ctr_len, sizeof(ctr));
        assert_memory_equal(out.ctr, ctr, sizeof(ctr));
        assert_null(diskval_why(enc, elen));
        free(owned);
        /* a state length beyond the payload is corrupt, not a read past it */
        if (!comp) {
            enc[elen - 1] = 0xff;
            enc[elen - 2] = 0xff;
            assert_int_equal(diskval_decode(enc, elen, fake_now, &out, &owned),
                             DISKVAL_CORRUPT);
        }
        free(enc);
    }
    struct diskval v = {.type = 2, .version = 5, .data = val, .len = sizeof(val)};
    struct diskval_opts o = {.zstd_level = 3, .compress_threshold = 64};
    uint8_t *enc, *owned;
    size_t elen;
    bool comp;
    assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
    struct diskval out;
    assert_int_equal(diskval_decode(enc, elen, fake_now, &out, &owned), DISKVAL_OK);
    assert_null(out.ctr);
    assert_int_equal(out.ctr_len, 0);
    free(enc);
}

static void test_every_corrupt_byte_is_detected(void **state)
{
    (void)state;
    uint8_t data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)('a' + i % 5);
    struct diskval v = {.type = 6, .version = 1, .data = data, .len = sizeof(data)};
    struct diskval_opts o = {.zstd_level = 1, .compress_threshold = 64};
    uint8_t *enc, *owned;
    size_t elen;
    bool comp;
    assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
    for (size_t i = 0; i < elen; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            enc[i] ^= (uint8_t)(1u << bit);
            struct diskval out;
            int rc = diskval_decode(enc, elen, fake_now, &out, &owned);
            /* a flipped expiry byte may read as "expired"; anything else must be refused */
            assert_true(rc == DISKVAL_CORRUPT || (rc == DISKVAL_EXPIRED && i >= 8 && i < 16));
            assert_null(owned);
            enc[i] ^= (uint8_t)(1u << bit);
        }
    }
    struct diskval out;
    assert_int_equal(diskval_decode(enc, elen - 1, fake_now, &out, &owned), DISKVAL_CORRUPT);
    assert_int_equal(diskval_decode(enc, 10, fake_now, &out, &owned), DISKVAL_CORRUPT);
    free(enc);
}

/* A record laid out byte by byte, as a little-endian writer lays it out, in host-independent
 * code: be != 0 writes every multi-byte header field (the checksum too) in big-endian
 * order instead, what the old memcpy code wrote on a big-endian host. */
static void put_n(uint8_t *p, uint64_t v, int n, bool be)
{
    for (int i = 0; i < n; i++)
        p[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

/* A compressed record whose checksum is right but whose value length is not (a writer's bug,
 * a crafted file) is corrupt, and a length of 4 GiB - 1 is not allocated before zstd shows
 * the payload is short (fuzz_diskval's oom finding, tests/fuzz/regress/diskval). */
static void test_compressed_length_must_match(void **state)
{
    (void)state;
    size_t len = 200000; /* more than the first 64KiB buffer: it grows twice */
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)('a' + i % 7);
    struct diskval v = {.type = 4, .version = 5, .data = data, .len = len};
    struct diskval_opts o = {.zstd_level = 3, .compress_threshold = 64};
    uint8_t *enc, *owned;
    size_t elen;
    bool comp;
    assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
    assert_true(comp);
    const uint64_t lies[] = {len - 1, len + 1, 65536, 0, UINT32_MAX};
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        put_n(enc + 32, lies[i], 4, false);
        put_n(enc + 4, crc32c(crc32c(0, enc, 4), enc + 8, elen - 8), 4, false);
        assert_null(diskval_why(enc, elen)); /* the header itself is consistent */
        struct diskval out;
        owned = (uint8_t *)1;
        assert_int_equal(diskval_decode(enc, elen, fake_now, &out, &owned), DISKVAL_CORRUPT);
        assert_null(owned);
    }
    put_n(enc + 32, len, 4, false);
    put_n(enc + 4, crc32c(crc32c(0, enc, 4), enc + 8, elen - 8), 4, false);
    struct diskval out;
    assert_int_equal(diskval_decode(enc, elen, fake_now, &out, &owned), DISKVAL_OK);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, data, len);
    free(owned);
    free(enc);
    free(data);
}

static size_t layout(uint8_t *r, bool be)
{
    static const char payload[] = "hello";
    memset(r, 0, 64);
    r[0] = DISKVAL_FORMAT;
    r[1] = 3;                                        /* type */
    r[2] = 0;                                        /* raw */
    put_n(r + 8, 0x0000018f2e3d4c5bull, 8, be);      /* expiry, ms */
    put_n(r + 16, 0x0102030405060708ull, 8, be);     /* version */
    put_n(r + 24, 0x1122334455667788ull, 8, be);     /* hlc */
    put_n(r + 32, 5, 4, be);                         /* value length */
    put_n(r + 36, 5, 4, be);                         /* stored length */
    memcpy(r + DISKVAL_HEADER, payload, 5);
    size_t n = DISKVAL_HEADER + 5;
    put_n(r + 4, crc32c(crc32c(0, r, 4), r + 8, n - 8), 4, be);
    return n;
}

static void test_little_endian_layout(void **state)
{
    (void)state;
    uint8_t r[64], *owned, *enc;
    size_t n = layout(r, false), elen;
    /* the first expiry byte is the least significant one, on any host */
    assert_int_equal(r[8], 0x5b);
    assert_int_equal(r[15], 0x00);
    struct diskval out;
    assert_int_equal(diskval_decode(r, n, fake_now, &out, &owned), DISKVAL_OK);
    assert_null(owned);
    assert_int_equal(out.type, 3);
    assert_int_equal(out.expire_ms, 0x0000018f2e3d4c5bull);
    assert_int_equal(out.version, 0x0102030405060708ull);
    assert_int_equal(out.hlc, 0x1122334455667788ull);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "hello", 5);
    assert_null(diskval_why(r, n));
    assert_true(diskval_peek(r, n, &out) && out.version == 0x0102030405060708ull);
    /* and the encoder writes exactly these bytes */
    struct diskval v = {.type = 3, .expire_ms = 0x0000018f2e3d4c5bull,
                        .version = 0x0102030405060708ull, .hlc = 0x1122334455667788ull,
                        .data = (const uint8_t *)"hello", .len = 5};
    struct diskval_opts o = {.zstd_level = 1, .compress_threshold = 64};
    bool comp;
    assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
    assert_int_equal(elen, n);
    assert_memory_equal(enc, r, n);
    free(enc);
}

static void test_other_byte_order_refused(void **state)
{
    (void)state;
    uint8_t r[64], *owned;
    size_t n = layout(r, true);
    struct diskval out;
    assert_int_equal(diskval_decode(r, n, fake_now, &out, &owned), DISKVAL_CORRUPT);
    assert_null(owned);
    assert_false(diskval_peek(r, n, &out)); /* the compaction filter and restore skip it */
    assert_false(diskval_expired(r, n, UINT64_MAX));
    const char *why = diskval_why(r, n);
    assert_non_null(why);
    assert_non_null(strstr(why, "big-endian"));
    r[n - 1] ^= 1; /* a plain corruption is not called a byte-order problem */
    r[4] ^= 0x40;
    assert_non_null(diskval_why(r, n));
    assert_null(strstr(diskval_why(r, n), "big-endian"));
}

static void test_expired_values(void **state)
{
    (void)state;
    struct diskval v = {.type = 4, .expire_ms = fake_now + 10, .data = (const uint8_t *)"x", .len = 1};
    struct diskval_opts o = {.zstd_level = 1, .compress_threshold = 64};
    uint8_t *enc, *owned;
    size_t elen;
    bool comp;
    assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
    struct diskval out;
    assert_int_equal(diskval_decode(enc, elen, fake_now + 9, &out, &owned), DISKVAL_OK);
    assert_false(diskval_expired(enc, elen, fake_now + 9));
    assert_int_equal(diskval_decode(enc, elen, fake_now + 10, &out, &owned), DISKVAL_EXPIRED);
    assert_true(diskval_expired(enc, elen, fake_now + 10));
    free(enc);
}

static char dir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/tiertest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put_value(struct tierdb *db, const char *key, const char *val, uint64_t expire)
{
    struct diskval v = {.type = 4, .expire_ms = expire, .version = 1, .data = (const uint8_t *)val,
                        .len = strlen(val)};
    struct diskval_opts o = {.zstd_level = 1, .compress_threshold = 64};
    uint8_t *enc, k[64];
    size_t elen;
    bool comp;
    char err[256];
    assert_int_equal(diskval_encode(&v, &o, &enc, &elen, &comp), DISKVAL_OK);
    size_t kl = tierdb_key(k, "app", 3, key, strlen(key));
    assert_int_equal(tierdb_put(db, k, kl, enc, elen, true, err, sizeof(err)), 0);
    free(enc);
}

/* 0 = found with the expected value, 1 = missing, 2 = expired */
static int get_value(struct tierdb *db, const char *key, const char *want)
{
    uint8_t k[64], *raw, *owned;
    size_t kl = tierdb_key(k, "app", 3, key, strlen(key)), rl;
    char err[256];
    int rc = tierdb_get(db, k, kl, &raw, &rl, err, sizeof(err));
    assert_int_not_equal(rc, -1);
    if (rc == 1)
        return 1;
    struct diskval out;
    int d = diskval_decode(raw, rl, fake_now, &out, &owned);
    int ret = 2;
    if (d == DISKVAL_OK) {
        assert_int_equal(out.len, strlen(want));
        assert_memory_equal(out.data, want, out.len);
        ret = 0;
    } else {
        assert_int_equal(d, DISKVAL_EXPIRED);
    }
    free(owned);
    free(raw);
    return ret;
}

/* The compaction filter tells of each expired record it drops (streams' chunks follow). */
static int told;
static char told_key[16];
static void _expired(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    (void)arg, (void)val, (void)vlen;
    told++;
    memcpy(told_key, key, klen < sizeof(told_key) ? klen : sizeof(told_key) - 1);
}

static void test_tierdb_put_get_reopen_expire(void **state)
{
    (void)state;
    char path[300], err[512];
    snprintf(path, sizeof(path), "%s/ssd", dir);
    struct tierdb_opts o = {.path = path, .write_rate_bytes = 64 << 20, .now_ms = now_ms,
                            .expired = _expired};
    struct tierdb *db = tierdb_open(&o, err, sizeof(err));
    assert_non_null(db);
    put_value(db, "a", "alpha", 0);
    put_value(db, "b", "beta", fake_now + 100);
    assert_int_equal(get_value(db, "a", "alpha"), 0);
    assert_int_equal(get_value(db, "b", "beta"), 0);
    assert_int_equal(get_value(db, "zz", ""), 1);
    uint8_t k[16];
    size_t kl = tierdb_key(k, "app", 3, "a", 1);
    assert_int_equal(tierdb_delete(db, k, kl, true, err, sizeof(err)), 0);
    assert_int_equal(get_value(db, "a", ""), 1);
    put_value(db, "a", "again", 0);
    tierdb_close(db);

    db = tierdb_open(&o, err, sizeof(err)); /* reopen: what was written with the WAL is there */
    assert_non_null(db);
    assert_int_equal(get_value(db, "a", "again"), 0);
    fake_now += 200; /* b expires: never returned, and dropped by the next compaction */
    assert_int_equal(get_value(db, "b", ""), 2);
    tierdb_compact(db);
    assert_int_equal(tierdb_expired_dropped(db), 1);
    assert_int_equal(told, 1);
    uint8_t bk[16];
    size_t bl = tierdb_key(bk, "app", 3, "b", 1);
    assert_memory_equal(told_key, bk, bl);
    assert_int_equal(get_value(db, "b", ""), 1);
    assert_int_equal(get_value(db, "a", "again"), 0);
    assert_true(tierdb_bytes(db) > 0);
    tierdb_close(db);
}

static void test_corrupt_directory(void **state)
{
    (void)state;
    char path[300], file[400], err[512];
    snprintf(path, sizeof(path), "%s/broken", dir);
    struct tierdb_opts o = {.path = path, .now_ms = now_ms};
    struct tierdb *db = tierdb_open(&o, err, sizeof(err));
    assert_non_null(db);
    put_value(db, "k", "v", 0);
    tierdb_close(db);
    /* CURRENT names the manifest; point it at garbage */
    snprintf(file, sizeof(file), "%s/CURRENT", path);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("MANIFEST-999999\n", f);
    fclose(f);
    assert_null(tierdb_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, "tier_start_empty"));
    o.start_empty = true;
    db = tierdb_open(&o, err, sizeof(err));
    assert_non_null(db);
    assert_int_equal(get_value(db, "k", ""), 1); /* started empty */
    tierdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_value),
        cmocka_unit_test(test_round_trip_and_compression),
        cmocka_unit_test(test_counter_state_round_trip),
        cmocka_unit_test(test_every_corrupt_byte_is_detected),
        cmocka_unit_test(test_expired_values),
        cmocka_unit_test(test_little_endian_layout),
        cmocka_unit_test(test_other_byte_order_refused),
        cmocka_unit_test(test_compressed_length_must_match),
        cmocka_unit_test_setup_teardown(test_tierdb_put_get_reopen_expire, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_corrupt_directory, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
