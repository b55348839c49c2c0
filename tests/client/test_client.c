/* Integration tests: every operation through libcacheclient against a real cacheserverd
 * started by the harness, plus malformed requests sent raw (wrong argument types, unknown
 * opcodes, nesting 10,000 deep) after which the server must keep answering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"
#include "client_test.h"
#include "harness.h"
#include "mpread.h"

static cc_client *_client(const char *ns) { return client_test_new(srv, ns, "test_client"); }

static int group_setup(void **state)
{
    (void)state;
    const char *args[] = {"--memory", "256MiB", NULL};
    srv = harness_start(args);
    return srv ? 0 : -1;
}

static uint64_t _now_ms(void) { return client_test_now_ms(); }

static void _set(cc_client *c, const char *key, const cc_value *v)
{
    EXPECT_STATUS(c, CC_OK, cc_set(c, key, strlen(key), v, 0, 0, 0, NULL));
}

static void test_every_type_round_trips(void **state)
{
    (void)state;
    cc_client *c = _client("types");
    cc_item it;
    static const int64_t ints[] = {0, 1, -1, 127, 128, -33, 65536, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        cc_value v = cc_value_int(ints[i]);
        _set(c, "int", &v);
        EXPECT_STATUS(c, CC_OK, cc_get(c, "int", 3, &it));
        assert_int_equal(it.value.type, CC_TYPE_INT);
        assert_false(it.value.is_uint);
        assert_true(it.value.i == ints[i]);
        cc_item_release(&it);
    }
    cc_value big = {.type = CC_TYPE_INT, .is_uint = true, .u = UINT64_MAX};
    _set(c, "uint", &big);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "uint", 4, &it));
    assert_true(it.value.is_uint && it.value.u == UINT64_MAX);
    cc_item_release(&it);

    static const double floats[] = {0.0, -2.5, 1e300, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
        cc_value v = cc_value_float(floats[i]);
        _set(c, "f", &v);
        EXPECT_STATUS(c, CC_OK, cc_get(c, "f", 1, &it));
        assert_int_equal(it.value.type, CC_TYPE_FLOAT);
        assert_true(it.value.f == floats[i]);
        cc_item_release(&it);
    }
    cc_value nan = cc_value_float(NAN);
    _set(c, "nan", &nan);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "nan", 3, &it));
    assert_true(isnan(it.value.f));
    cc_item_release(&it);

    cc_value t = cc_value_bool(true), n = cc_value_null();
    _set(c, "b", &t);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "b", 1, &it));
    assert_true(it.value.type == CC_TYPE_BOOL && it.value.b);
    cc_item_release(&it);
    _set(c, "n", &n);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "n", 1, &it));
    assert_int_equal(it.value.type, CC_TYPE_NULL);
    cc_item_release(&it);

    const char bin[] = {'\0', '\xff', 'a', '\n'};
    cc_value bv = cc_value_bytes(bin, sizeof(bin)), empty = cc_value_bytes("", 0);
    _set(c, "bin", &bv);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "bin", 3, &it));
    assert_int_equal(it.value.type, CC_TYPE_BYTES);
    assert_int_equal(it.value.len, sizeof(bin));
    assert_memory_equal(it.value.data, bin, sizeof(bin));
    cc_item_release(&it);
    _set(c, "empty", &empty);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "empty", 5, &it));
    assert_int_equal(it.value.len, 0);
    cc_item_release(&it);

    /* nested map with an array, a nested map and an int key */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "list", 4);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_nil(&pk);
    msgpack_pack_double(&pk, 0.5);
    msgpack_pack_int(&pk, -3);
    msgpack_pack_true(&pk);
    cc_value mv = cc_value_msgpack(CC_TYPE_MAP, sb.data, sb.size);
    _set(c, "map", &mv);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "map", 3, &it));
    assert_int_equal(it.value.type, CC_TYPE_MAP);
    assert_int_equal(it.value.len, sb.size);
    assert_memory_equal(it.value.data, sb.data, sb.size);
    cc_item_release(&it);
    /* a map encoding declared as an array is refused locally */
    cc_value wrong = cc_value_msgpack(CC_TYPE_ARRAY, sb.data, sb.size);
    EXPECT_STATUS(c, CC_E_CLIENT_ARGS, cc_set(c, "bad", 3, &wrong, 0, 0, 0, NULL));
    msgpack_sbuffer_destroy(&sb);

    cc_value obj = cc_value_object("App\\User", 8, 1, "O:8:...", 7);
    _set(c, "obj", &obj);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "obj", 3, &it));
    assert_int_equal(it.value.type, CC_TYPE_OBJECT);
    assert_int_equal(it.value.class_len, 8);
    assert_memory_equal(it.value.class_name, "App\\User", 8);
    assert_int_equal(it.value.serializer, 1);
    assert_int_equal(it.value.len, 7);
    assert_memory_equal(it.value.data, "O:8:...", 7);
    cc_item_release(&it);
    cc_client_destroy(&c);
    assert_null(c);
}

static void test_ttl_touch_and_expiry(void **state)
{
    (void)state;
    cc_client *c = _client("ttl");
    cc_value v = cc_value_bytes("x", 1);
    int64_t ttl;
    EXPECT_STATUS(c, CC_OK, cc_set(c, "t", 1, &v, 60000, 0, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_ttl(c, "t", 1, &ttl));
    assert_true(ttl > 55000 && ttl <= 60000);
    EXPECT_STATUS(c, CC_OK, cc_touch(c, "t", 1, 0));
    EXPECT_STATUS(c, CC_OK, cc_ttl(c, "t", 1, &ttl));
    assert_int_equal(ttl, -1);
    EXPECT_STATUS(c, CC_NOT_FOUND, cc_touch(c, "none", 4, 10));
    EXPECT_STATUS(c, CC_NOT_FOUND, cc_ttl(c, "none", 4, &ttl));
    EXPECT_STATUS(c, CC_OK, cc_set(c, "short", 5, &v, 50, 0, 0, NULL));
    uint64_t deadline = _now_ms() + 5000;
    cc_item it;
    int st;
    while ((st = cc_get(c, "short", 5, &it)) == CC_OK && _now_ms() < deadline) {
        cc_item_release(&it);
        usleep(5000);
    }
    EXPECT_STATUS(c, CC_NOT_FOUND, st);
    cc_client_destroy(&c);
}

/* A ttl beyond CC_TTL_MAX_MS (100 years) is refused by every write that takes one, and
 * nothing is written; at the maximum it is kept. Before the limit, 2^64-1 wrapped now + ttl
 * (acknowledged, then gone at once) and 2^63 made TTL/GET report INT64_MIN. */
static void test_ttl_beyond_the_maximum_is_refused(void **state)
{
    (void)state;
    cc_client *c = _client("ttlmax");
    cc_value v = cc_value_bytes("x", 1);
    const uint64_t huge[] = {UINT64_MAX, (uint64_t)1 << 63, CC_TTL_MAX_MS + 1};
    int64_t ttl, n;
    uint64_t len;
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        EXPECT_STATUS(c, CC_E_BAD_ARGS, cc_set(c, "k", 1, &v, huge[i], 0, 0, NULL));
        assert_non_null(strstr(cc_errmsg(c), "maximum"));
        EXPECT_STATUS(c, CC_NOT_FOUND, cc_ttl(c, "k", 1, &ttl));
        const void *kp = "k";
        size_t kl = 1;
        EXPECT_STATUS(c, CC_E_BAD_ARGS, cc_mset(c, 1, &kp, &kl, &v, &huge[i]));
        EXPECT_STATUS(c, CC_NOT_FOUND, cc_ttl(c, "k", 1, &ttl));
        EXPECT_STATUS(c, CC_E_BAD_ARGS, cc_incr(c, "k", 1, 1, 0, huge[i], &n));
        EXPECT_STATUS(c, CC_E_BAD_ARGS, cc_append(c, "k", 1, "ab", 2, huge[i], &len));
        EXPECT_STATUS(c, CC_NOT_FOUND, cc_ttl(c, "k", 1, &ttl));
        EXPECT_STATUS(c, CC_OK, cc_set(c, "t", 1, &v, 60000, 0, 0, NULL));
        EXPECT_STATUS(c, CC_E_BAD_ARGS, cc_touch(c, "t", 1, huge[i]));
        EXPECT_STATUS(c, CC_OK, cc_ttl(c, "t", 1, &ttl));
        assert_true(ttl > 0 && ttl <= 60000); /* unchanged */
    }
    EXPECT_STATUS(c, CC_OK, cc_set(c, "k", 1, &v, CC_TTL_MAX_MS, 0, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_ttl(c, "k", 1, &ttl));
    assert_true(ttl > (int64_t)CC_TTL_MAX_MS - 60000 && ttl <= (int64_t)CC_TTL_MAX_MS);
    EXPECT_STATUS(c, CC_OK, cc_touch(c, "t", 1, CC_TTL_MAX_MS));
    EXPECT_STATUS(c, CC_OK, cc_ttl(c, "t", 1, &ttl));
    assert_true(ttl > (int64_t)CC_TTL_MAX_MS - 60000 && ttl <= (int64_t)CC_TTL_MAX_MS);
    cc_client_destroy(&c);
}

static void test_nx_xx_and_cas(void **state)
{
    (void)state;
    cc_client *c = _client("cas");
    cc_value a = cc_value_bytes("a", 1), b = cc_value_bytes("b", 1);
    uint64_t v1, v2;
    EXPECT_STATUS(c, CC_NOT_STORED, cc_set(c, "k", 1, &a, 0, CC_SET_XX, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_set(c, "k", 1, &a, 0, CC_SET_NX, 0, &v1));
    EXPECT_STATUS(c, CC_NOT_STORED, cc_set(c, "k", 1, &b, 0, CC_SET_NX, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_set(c, "k", 1, &b, 0, CC_SET_XX, 0, &v2));
    assert_true(v2 > v1);
    EXPECT_STATUS(c, CC_CAS_MISMATCH, cc_set(c, "k", 1, &a, 0, 0, v1, NULL));
    EXPECT_STATUS(c, CC_OK, cc_set(c, "k", 1, &a, 0, 0, v2, NULL));
    EXPECT_STATUS(c, CC_NOT_FOUND, cc_set(c, "gone", 4, &a, 0, 0, v2, NULL));
    cc_item it;
    EXPECT_STATUS(c, CC_OK, cc_get(c, "k", 1, &it));
    assert_memory_equal(it.value.data, "a", 1);
    assert_true(it.version > v2);
    cc_item_release(&it);
    cc_client_destroy(&c);
}

static void test_multi_key_operations(void **state)
{
    (void)state;
    cc_client *c = _client("multi");
    const void *keys[] = {"m1", "m2", "m3"};
    size_t kl[] = {2, 2, 2};
    cc_value vals[] = {cc_value_int(1), cc_value_bytes("two", 3), cc_value_bool(false)};
    uint64_t ttls[] = {0, 0, 60000};
    EXPECT_STATUS(c, CC_OK, cc_mset(c, 3, keys, kl, vals, ttls));
    const void *want[] = {"m3", "missing", "m1", "m2"};
    size_t wl[] = {2, 7, 2, 2};
    cc_item items[4];
    EXPECT_STATUS(c, CC_OK, cc_mget(c, 4, want, wl, items));
    assert_true(items[0].found && items[0].value.type == CC_TYPE_BOOL);
    assert_true(items[0].ttl_ms > 0);
    assert_false(items[1].found);
    assert_true(items[2].found && items[2].value.i == 1);
    assert_true(items[3].found && items[3].value.len == 3);
    /* items share a buffer: releasing in any order is safe */
    cc_item_release(&items[2]);
    assert_memory_equal(items[3].value.data, "two", 3);
    for (int i = 0; i < 4; i++)
        cc_item_release(&items[i]);
    uint64_t n;
    const void *ek[] = {"m1", "m2", "nope", "m1"};
    size_t el[] = {2, 2, 4, 2};
    EXPECT_STATUS(c, CC_OK, cc_exists(c, 4, ek, el, &n));
    assert_int_equal(n, 3);
    EXPECT_STATUS(c, CC_OK, cc_del(c, 4, ek, el, &n));
    assert_int_equal(n, 2);
    EXPECT_STATUS(c, CC_OK, cc_exists(c, 3, keys, kl, &n));
    assert_int_equal(n, 1);
    cc_client_destroy(&c);
}

/* More keys than the server takes in one request (max-request-keys, 1024 by default): the
 * library sends them in pieces, so MSET, MGET, EXISTS and DEL of 3,000 keys just work. */
static void test_multi_key_operations_beyond_the_server_limit(void **state)
{
    (void)state;
    cc_client *c = _client("many");
    enum { N = 3000 };
    static char names[N][16];
    static const void *keys[N];
    static size_t kl[N];
    static cc_value vals[N];
    static cc_item items[N + 1];
    for (int i = 0; i < N; i++) {
        kl[i] = (size_t)snprintf(names[i], sizeof(names[i]), "many%d", i);
        keys[i] = names[i];
        vals[i] = cc_value_int(i);
    }
    EXPECT_STATUS(c, CC_OK, cc_mset(c, N, keys, kl, vals, NULL));
    EXPECT_STATUS(c, CC_OK, cc_mget(c, N, keys, kl, items));
    for (int i = 0; i < N; i++) {
        assert_true(items[i].found);
        assert_int_equal(items[i].value.i, i);
        cc_item_release(&items[i]);
    }
    uint64_t n;
    EXPECT_STATUS(c, CC_OK, cc_exists(c, N, keys, kl, &n));
    assert_int_equal(n, N);
    EXPECT_STATUS(c, CC_OK, cc_del(c, N, keys, kl, &n));
    assert_int_equal(n, N);
    cc_client_destroy(&c);
}

static void test_counters(void **state)
{
    (void)state;
    cc_client *c = _client("ctr");
    int64_t v;
    /* a missing key counts from initial, then the delta is added (as Redis INCR, PHP
     * increment() and cache-cli incr answer: tests/cli, php-ext/tests/021) */
    EXPECT_STATUS(c, CC_OK, cc_incr(c, "hits", 4, 1, 0, 0, &v));
    assert_int_equal(v, 1);
    EXPECT_STATUS(c, CC_OK, cc_decr(c, "down", 4, 1, 0, 0, &v));
    assert_int_equal(v, -1);
    EXPECT_STATUS(c, CC_OK, cc_incr(c, "c", 1, 5, 100, 0, &v));
    assert_int_equal(v, 105);
    EXPECT_STATUS(c, CC_OK, cc_incr(c, "c", 1, 5, 0, 0, &v));
    assert_int_equal(v, 110);
    EXPECT_STATUS(c, CC_OK, cc_decr(c, "c", 1, 15, 0, 0, &v));
    assert_int_equal(v, 95);
    EXPECT_STATUS(c, CC_E_OVERFLOW, cc_incr(c, "ovf", 3, 1, INT64_MAX, 0, &v));
    EXPECT_STATUS(c, CC_NOT_FOUND, cc_ttl(c, "ovf", 3, &v)); /* not created */
    cc_value max = cc_value_int(INT64_MAX);
    _set(c, "max", &max);
    EXPECT_STATUS(c, CC_E_OVERFLOW, cc_incr(c, "max", 3, 1, 0, 0, &v));
    EXPECT_STATUS(c, CC_E_OVERFLOW, cc_decr(c, "c", 1, INT64_MIN, 0, 0, &v));
    cc_item it;
    EXPECT_STATUS(c, CC_OK, cc_get(c, "max", 3, &it));
    assert_true(it.value.i == INT64_MAX); /* unchanged */
    cc_item_release(&it);
    cc_value txt = cc_value_bytes("12", 2), word = cc_value_bytes("abc", 3);
    _set(c, "txt", &txt);
    EXPECT_STATUS(c, CC_OK, cc_incr(c, "txt", 3, 30, 0, 0, &v));
    assert_int_equal(v, 42);
    _set(c, "word", &word);
    EXPECT_STATUS(c, CC_E_TYPE, cc_incr(c, "word", 4, 1, 0, 0, &v));
    assert_true(strlen(cc_errmsg(c)) > 0);
    cc_client_destroy(&c);
}

static void test_streams_by_ranges(void **state)
{
    (void)state;
    cc_client *c = _client("streams");
    size_t total = 5 * 1024 * 1024 + 77, chunk = 64 * 1024;
    uint8_t *data = malloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (uint8_t)((i * 131) ^ (i >> 9));
    uint64_t len = 0;
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? total - off : chunk;
        EXPECT_STATUS(c, CC_OK, cc_append(c, "s", 1, data + off, n, 0, &len));
    }
    assert_int_equal(len, total);
    EXPECT_STATUS(c, CC_OK, cc_strlen(c, "s", 1, &len));
    assert_int_equal(len, total);
    cc_item it;
    for (size_t off = 0; off < total; off += 1000003) {
        EXPECT_STATUS(c, CC_OK, cc_getrange(c, "s", 1, off, 300000, &it));
        size_t want = total - off < 300000 ? total - off : 300000;
        assert_int_equal(it.value.len, want);
        assert_memory_equal(it.value.data, data + off, want);
        cc_item_release(&it);
    }
    EXPECT_STATUS(c, CC_OK, cc_getrange(c, "s", 1, total + 10, 10, &it));
    assert_int_equal(it.value.len, 0);
    cc_item_release(&it);
    EXPECT_STATUS(c, CC_OK, cc_get(c, "s", 1, &it));
    assert_int_equal(it.value.type, CC_TYPE_STREAM);
    assert_int_equal(it.value.len, total);
    assert_memory_equal(it.value.data, data, total);
    cc_item_release(&it);
    EXPECT_STATUS(c, CC_NOT_FOUND, cc_getrange(c, "none", 4, 0, 10, &it));
    cc_value iv = cc_value_int(3);
    _set(c, "i", &iv);
    EXPECT_STATUS(c, CC_E_TYPE, cc_append(c, "i", 1, "x", 1, 0, &len));
    EXPECT_STATUS(c, CC_E_TYPE, cc_strlen(c, "i", 1, &len));
    free(data);
    cc_client_destroy(&c);
}

static void test_scan_namespaces_and_flush(void **state)
{
    (void)state;
    cc_client *a = _client("scan-a"), *b = _client("scan-b");
    cc_value v = cc_value_bytes("v", 1);
    char key[32];
    int n = 600;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "user:%d", i);
        EXPECT_STATUS(a, CC_OK, cc_set(a, key, strlen(key), &v, 0, 0, 0, NULL));
    }
    EXPECT_STATUS(a, CC_OK, cc_set(a, "other", 5, &v, 0, 0, 0, NULL));
    EXPECT_STATUS(b, CC_OK, cc_set(b, "user:0", 6, &v, 0, 0, 0, NULL));
    char *seen = calloc((size_t)n, 1);
    uint64_t cursor = 0;
    int calls = 0, total = 0;
    do {
        cc_keys keys;
        EXPECT_STATUS(a, CC_OK, cc_scan(a, cursor, "user:", 5, 100, &cursor, &keys));
        for (size_t i = 0; i < keys.n; i++) {
            assert_true(keys.lens[i] > 5 && memcmp(keys.keys[i], "user:", 5) == 0);
            char buf[32];
            memcpy(buf, keys.keys[i] + 5, keys.lens[i] - 5);
            buf[keys.lens[i] - 5] = '\0';
            seen[atoi(buf)] = 1;
            total++;
        }
        cc_keys_release(&keys);
    } while (cursor != 0 && ++calls < 10000);
    for (int i = 0; i < n; i++)
        if (!seen[i])
            fail_msg("SCAN never returned user:%d", i);
    assert_true(total >= n);
    free(seen);
    uint64_t removed;
    EXPECT_STATUS(a, CC_OK, cc_flush(a, "scan-a", &removed));
    assert_int_equal(removed, (uint64_t)n + 1);
    cc_item it;
    EXPECT_STATUS(a, CC_NOT_FOUND, cc_get(a, "user:0", 6, &it));
    EXPECT_STATUS(b, CC_OK, cc_get(b, "user:0", 6, &it));
    cc_item_release(&it);
    /* switching namespaces on a live client */
    EXPECT_STATUS(a, CC_OK, cc_select_ns(a, "scan-b"));
    EXPECT_STATUS(a, CC_OK, cc_get(a, "user:0", 6, &it));
    cc_item_release(&it);
    cc_client_destroy(&a);
    cc_client_destroy(&b);
}

/* Value of a string or uint key in a map item, as text. */
static bool _map_lookup(const cc_item *m, const char *name, char *out, size_t outlen)
{
    struct mp_cursor cur;
    uint32_t n;
    mp_cursor_init(&cur, m->value.data, m->value.len);
    if (!mp_read_map(&cur, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k, *s;
        uint32_t kl, sl;
        uint64_t u;
        if (!mp_read_bytes(&cur, &k, &kl))
            return false;
        bool match = kl == strlen(name) && memcmp(k, name, kl) == 0;
        if (mp_read_uint(&cur, &u)) {
            if (match)
                snprintf(out, outlen, "%llu", (unsigned long long)u);
        } else if (mp_read_bytes(&cur, &s, &sl)) {
            if (match)
                snprintf(out, outlen, "%.*s", (int)sl, s);
        } else if (!mp_skip(&cur, 8)) {
            return false;
        } else if (match) {
            snprintf(out, outlen, "?");
        }
        if (match)
            return true;
    }
    return false;
}

static void test_stats_info_config(void **state)
{
    (void)state;
    cc_client *c = _client("admin");
    cc_item it;
    char val[128];
    EXPECT_STATUS(c, CC_NOT_FOUND, cc_get(c, "miss", 4, &it));
    EXPECT_STATUS(c, CC_OK, cc_stats(c, &it));
    assert_int_equal(it.value.type, CC_TYPE_MAP);
    assert_true(_map_lookup(&it, "ns.admin.misses", val, sizeof(val)));
    assert_string_equal(val, "1");
    assert_true(_map_lookup(&it, "op.get.count", val, sizeof(val)) && atoi(val) > 0);
    assert_true(_map_lookup(&it, "bytes_used", val, sizeof(val)));
    assert_true(_map_lookup(&it, "connections", val, sizeof(val)) && atoi(val) >= 1);
    cc_item_release(&it);
    EXPECT_STATUS(c, CC_OK, cc_info(c, &it));
    assert_true(_map_lookup(&it, "socket", val, sizeof(val)));
    assert_string_equal(val, harness_socket(srv));
    cc_item_release(&it);
    EXPECT_STATUS(c, CC_OK, cc_config_set(c, "max-key-size", "16"));
    EXPECT_STATUS(c, CC_OK, cc_config_get(c, "max_key_size", &it));
    assert_true(_map_lookup(&it, "max_key_size", val, sizeof(val)));
    assert_string_equal(val, "16");
    cc_item_release(&it);
    cc_value v = cc_value_int(1);
    EXPECT_STATUS(c, CC_E_KEY_TOO_LONG, cc_set(c, "seventeen-bytes!!", 17, &v, 0, 0, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_config_set(c, "max_key_size", "8KiB"));
    EXPECT_STATUS(c, CC_E_CONFIG, cc_config_set(c, "threads", "3"));
    EXPECT_STATUS(c, CC_E_CONFIG, cc_config_set(c, "no-such-option", "1"));
    EXPECT_STATUS(c, CC_E_CONFIG, cc_config_set(c, "memory", "lots"));
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    cc_client_destroy(&c);
}

static void test_limits_fail_alone(void **state)
{
    (void)state;
    cc_client *c = _client("limits");
    size_t klen = 8193;
    char *key = malloc(klen);
    memset(key, 'k', klen);
    cc_item it;
    EXPECT_STATUS(c, CC_E_KEY_TOO_LONG, cc_get(c, key, klen, &it));
    assert_non_null(strstr(cc_errmsg(c), "max_key_size"));
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    EXPECT_STATUS(c, CC_OK, cc_config_set(c, "max-value-size", "1MiB"));
    size_t vlen = 1024 * 1024 + 1;
    char *val = calloc(1, vlen);
    cc_value v = cc_value_bytes(val, vlen);
    EXPECT_STATUS(c, CC_E_VALUE_TOO_LARGE, cc_set(c, "big", 3, &v, 0, 0, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    EXPECT_STATUS(c, CC_OK, cc_config_set(c, "max-value-size", "64MiB"));
    EXPECT_STATUS(c, CC_OK, cc_set(c, "big", 3, &v, 0, 0, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_get(c, "big", 3, &it));
    assert_int_equal(it.value.len, vlen);
    cc_item_release(&it);
    EXPECT_STATUS(c, CC_E_CLIENT_ARGS, cc_get(c, "", 0, &it));
    free(key);
    free(val);
    cc_client_destroy(&c);
}

/* A request longer than the server's max_frame_size (learnt from HELLO) is refused before
 * anything is sent: E_FRAME_TOO_LARGE naming APPEND, and the connection stays usable (the
 * server would have closed it, and the caller saw only E_IO "Broken pipe"). */
static void test_frame_too_large_refused_locally(void **state)
{
    (void)state;
    const char *args[] = {"--max-frame-size", "2MiB", "--max-value-size", "1MiB", NULL};
    struct harness *small = harness_start(args);
    assert_non_null(small);
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(small);
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    size_t vlen = 3 * 1024 * 1024;
    char *val = calloc(1, vlen);
    cc_value v = cc_value_bytes(val, vlen);
    EXPECT_STATUS(c, CC_E_FRAME_TOO_LARGE, cc_set(c, "big", 3, &v, 0, 0, 0, NULL));
    assert_non_null(strstr(cc_errmsg(c), "max_frame_size 2097152"));
    assert_non_null(strstr(cc_errmsg(c), "APPEND"));
    EXPECT_STATUS(c, CC_E_FRAME_TOO_LARGE, cc_append(c, "big", 3, val, vlen, 0, NULL));
    const void *keys[] = {"big"};
    const size_t lens[] = {3};
    const uint64_t ttls[] = {0};
    EXPECT_STATUS(c, CC_E_FRAME_TOO_LARGE, cc_mset(c, 1, keys, lens, &v, ttls));
    /* in a batch: nothing is sent, every result says why */
    cc_batch *b = cc_batch_create(c);
    cc_value one = cc_value_int(1);
    assert_int_equal(cc_batch_set(b, "a", 1, &one, 0), CC_OK);
    assert_int_equal(cc_batch_set(b, "big", 3, &v, 0), CC_OK);
    cc_result res[2];
    EXPECT_STATUS(c, CC_E_FRAME_TOO_LARGE, cc_batch_exec(b, res));
    assert_int_equal(res[0].status, CC_E_FRAME_TOO_LARGE);
    assert_int_equal(res[1].status, CC_E_FRAME_TOO_LARGE);
    cc_batch_destroy(&b);
    /* nothing reached the server, the connection still works, and a value that fits the
     * frame but not max_value_size is still the server's E_VALUE_TOO_LARGE */
    cc_item it;
    EXPECT_STATUS(c, CC_NOT_FOUND, cc_get(c, "a", 1, &it));
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    v.len = 1024 * 1024 + 1;
    EXPECT_STATUS(c, CC_E_VALUE_TOO_LARGE, cc_set(c, "big", 3, &v, 0, 0, 0, NULL));
    /* APPEND in pieces builds the large value */
    uint64_t len = 0;
    for (int i = 0; i < 3; i++)
        EXPECT_STATUS(c, CC_OK, cc_append(c, "big", 3, val, 1024 * 1024, 0, &len));
    assert_int_equal(len, vlen);
    assert_int_equal(harness_stat(small, "frames_too_large"), 0);
    free(val);
    cc_client_destroy(&c);
    harness_destroy(&small);
}

static void test_batch_pipelines_mixed_operations(void **state)
{
    (void)state;
    cc_client *c = _client("batch");
    cc_batch *b = cc_batch_create(c);
    char key[32];
    for (int i = 0; i < 250; i++) {
        snprintf(key, sizeof(key), "b%d", i);
        cc_value v = cc_value_int(i);
        assert_int_equal(cc_batch_set(b, key, strlen(key), &v, 0), CC_OK);
        assert_int_equal(cc_batch_get(b, key, strlen(key)), CC_OK);
        assert_int_equal(cc_batch_incr(b, key, strlen(key), 1000), CC_OK);
        assert_int_equal(cc_batch_del(b, key, strlen(key)), CC_OK);
    }
    assert_int_equal(cc_batch_count(b), 1000);
    cc_result *res = calloc(1000, sizeof(*res));
    EXPECT_STATUS(c, CC_OK, cc_batch_exec(b, res));
    for (int i = 0; i < 250; i++) {
        assert_int_equal(res[4 * i].status, CC_OK);
        assert_true(res[4 * i].num > 0); /* version */
        assert_int_equal(res[4 * i + 1].status, CC_OK);
        assert_int_equal(res[4 * i + 1].item.value.i, i);
        assert_int_equal(res[4 * i + 2].num, i + 1000);
        assert_int_equal(res[4 * i + 3].num, 1);
        cc_item_release(&res[4 * i + 1].item);
    }
    assert_int_equal(cc_batch_count(b), 0);
    free(res);
    cc_batch_destroy(&b);
    cc_client_destroy(&c);
}

/* The batch has every single-key operation (and MGET): each result as the plain call
 * answers it, one per key for MGET (misses included), in the order they were added. */
static void test_batch_has_every_operation(void **state)
{
    (void)state;
    cc_client *c = _client("batch2");
    cc_value one = cc_value_int(1), two = cc_value_int(2), str = cc_value_bytes("x", 1);
    uint64_t v1 = 0;
    EXPECT_STATUS(c, CC_OK, cc_set(c, "k1", 2, &one, 0, 0, 0, &v1));
    EXPECT_STATUS(c, CC_OK, cc_set(c, "k2", 2, &two, 60000, 0, 0, NULL));
    EXPECT_STATUS(c, CC_OK, cc_set(c, "s", 1, &str, 0, 0, 0, NULL));
    cc_batch *b = cc_batch_create(c);
    const void *keys[] = {"k1", "nope", "k2"};
    const size_t lens[] = {2, 4, 2};
    assert_int_equal(cc_batch_mget(b, 3, keys, lens), CC_OK);            /* 0..2 */
    assert_int_equal(cc_batch_decr(b, "k2", 2, 5), CC_OK);               /* 3 */
    assert_int_equal(cc_batch_decr_ex(b, "c", 1, 1, 10, 0), CC_OK);      /* 4 */
    assert_int_equal(cc_batch_incr_ex(b, "d", 1, 2, 100, 5000), CC_OK);  /* 5 */
    assert_int_equal(cc_batch_ttl(b, "k2", 2), CC_OK);                   /* 6 */
    assert_int_equal(cc_batch_ttl(b, "k1", 2), CC_OK);                   /* 7 */
    assert_int_equal(cc_batch_ttl(b, "nope", 4), CC_OK);                 /* 8 */
    assert_int_equal(cc_batch_touch(b, "k1", 2, 30000), CC_OK);          /* 9 */
    assert_int_equal(cc_batch_touch(b, "nope", 4, 30000), CC_OK);        /* 10 */
    assert_int_equal(cc_batch_exists(b, "k1", 2), CC_OK);                /* 11 */
    assert_int_equal(cc_batch_exists(b, "nope", 4), CC_OK);              /* 12 */
    assert_int_equal(cc_batch_set_ex(b, "k1", 2, &two, 0, CC_SET_NX, 0), CC_OK);   /* 13 */
    assert_int_equal(cc_batch_set_ex(b, "new", 3, &two, 0, CC_SET_XX, 0), CC_OK);  /* 14 */
    assert_int_equal(cc_batch_set_ex(b, "k1", 2, &two, 0, 0, v1 + 1000), CC_OK);   /* 15 */
    assert_int_equal(cc_batch_set_ex(b, "new", 3, &two, 0, CC_SET_NX, 0), CC_OK);  /* 16 */
    assert_int_equal(cc_batch_incr(b, "s", 1, 1), CC_OK);                /* 17: E_TYPE */
    assert_int_equal(cc_batch_get(b, "new", 3), CC_OK);                  /* 18 */
    assert_int_equal(cc_batch_mget(b, 0, keys, lens), CC_E_CLIENT_ARGS);
    assert_int_equal(cc_batch_exists(b, "", 0), CC_E_CLIENT_ARGS);
    assert_int_equal(cc_batch_count(b), 19);
    cc_result res[19];
    EXPECT_STATUS(c, CC_OK, cc_batch_exec(b, res));
    assert_int_equal(res[0].status, CC_OK);
    assert_true(res[0].item.found);
    assert_int_equal(res[0].item.value.i, 1);
    assert_int_equal(res[0].item.version, v1);
    assert_int_equal(res[1].status, CC_NOT_FOUND);
    assert_false(res[1].item.found);
    assert_int_equal(res[2].status, CC_OK);
    assert_int_equal(res[2].item.value.i, 2);
    assert_true(res[2].item.ttl_ms > 0 && res[2].item.ttl_ms <= 60000);
    assert_int_equal(res[3].status, CC_OK);
    assert_int_equal(res[3].num, -3);
    assert_int_equal(res[4].num, 9);
    assert_int_equal(res[5].num, 102);
    assert_true(res[6].num > 0 && res[6].num <= 60000);
    assert_int_equal(res[7].status, CC_OK);
    assert_int_equal(res[7].num, -1);
    assert_int_equal(res[8].status, CC_NOT_FOUND);
    assert_int_equal(res[9].status, CC_OK);
    assert_int_equal(res[10].status, CC_NOT_FOUND);
    assert_int_equal(res[11].status, CC_OK);
    assert_int_equal(res[11].num, 1);
    assert_int_equal(res[12].status, CC_OK);
    assert_int_equal(res[12].num, 0);
    assert_int_equal(res[13].status, CC_NOT_STORED);
    assert_int_equal(res[14].status, CC_NOT_STORED);
    assert_int_equal(res[15].status, CC_CAS_MISMATCH);
    assert_int_equal(res[16].status, CC_OK);
    assert_true(res[16].num > 0);
    assert_int_equal(res[17].status, CC_E_TYPE);
    assert_int_equal(res[18].status, CC_OK);
    assert_int_equal(res[18].item.value.i, 2);
    assert_int_equal(res[18].item.version, (uint64_t)res[16].num);
    for (int i = 0; i < 19; i++)
        cc_item_release(&res[i].item);
    /* the touch took, and the items of one MGET are released in any order */
    int64_t ttl = 0;
    EXPECT_STATUS(c, CC_OK, cc_ttl(c, "k1", 2, &ttl));
    assert_true(ttl > 0 && ttl <= 30000);
    cc_batch_destroy(&b);
    cc_client_destroy(&c);
}

/* An MGET beyond the server's max_request_keys goes in pieces inside the batch; results stay
 * one per key. */
static void test_batch_mget_beyond_the_server_limit(void **state)
{
    (void)state;
    const char *args[] = {"--max-request-keys", "4", NULL};
    struct harness *small = harness_start(args);
    assert_non_null(small);
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(small);
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    enum { N = 10 };
    char names[N][8];
    const void *keys[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "m%d", i);
        keys[i] = names[i];
        lens[i] = strlen(names[i]);
        if (i % 3 != 0) {
            cc_value v = cc_value_int(i);
            EXPECT_STATUS(c, CC_OK, cc_set(c, names[i], lens[i], &v, 0, 0, 0, NULL));
        }
    }
    cc_batch *b = cc_batch_create(c);
    assert_int_equal(cc_batch_get(b, "m1", 2), CC_OK);
    assert_int_equal(cc_batch_mget(b, N, keys, lens), CC_OK);
    assert_int_equal(cc_batch_exists(b, "m2", 2), CC_OK);
    assert_int_equal(cc_batch_count(b), N + 2);
    cc_result res[N + 2];
    EXPECT_STATUS(c, CC_OK, cc_batch_exec(b, res));
    assert_int_equal(res[0].item.value.i, 1);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0) {
            assert_int_equal(res[1 + i].status, CC_NOT_FOUND);
        } else {
            assert_int_equal(res[1 + i].status, CC_OK);
            assert_int_equal(res[1 + i].item.value.i, i);
        }
    }
    assert_int_equal(res[N + 1].num, 1);
    for (int i = N + 1; i >= 0; i--)
        cc_item_release(&res[i].item);
    cc_batch_destroy(&b);
    cc_client_destroy(&c);
    harness_destroy(&small);
}

static void test_reconnects_after_restart_and_refuses_nowhere(void **state)
{
    (void)state;
    cc_client *c = _client("restart");
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    harness_restart(srv);
    /* the old connection is gone: the first call sees it (E_IO), the next reconnects */
    int st = cc_ping(c);
    if (st != CC_OK)
        assert_int_equal(st, CC_E_IO);
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    cc_client_destroy(&c);

    cc_options o;
    cc_options_init(&o);
    o.socket_path = "/nonexistent/dir/cache.sock";
    o.connect_timeout_ms = 100;
    cc_client *none = cc_client_create(&o);
    EXPECT_STATUS(none, CC_E_CONNECT, cc_ping(none));
    assert_non_null(strstr(cc_errmsg(none), "/nonexistent/dir/cache.sock"));
    cc_client_destroy(&none);
}

#define THREADS 4
#define TOTAL_INCRS 100000
#define KEYS 8

static void *_incr_thread(void *arg)
{
    (void)arg;
    cc_client *c = _client("concurrency");
    cc_batch *b = cc_batch_create(c);
    cc_result *res = calloc(100, sizeof(*res));
    long failures = 0;
    for (int done = 0; done < TOTAL_INCRS / THREADS; done += 100) {
        for (int i = 0; i < 100; i++) {
            char key[8];
            snprintf(key, sizeof(key), "k%d", (done + i) % KEYS);
            cc_batch_incr(b, key, strlen(key), 1);
        }
        if (cc_batch_exec(b, res) != CC_OK)
            failures++;
        for (int i = 0; i < 100; i++)
            failures += res[i].status != CC_OK;
    }
    free(res);
    cc_batch_destroy(&b);
    cc_client_destroy(&c);
    return (void *)failures;
}

static void test_concurrent_incr_totals_are_exact(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, _incr_thread, NULL);
    for (int i = 0; i < THREADS; i++) {
        void *failures;
        pthread_join(t[i], &failures);
        assert_int_equal((long)failures, 0);
    }
    cc_client *c = _client("concurrency");
    int64_t sum = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", k);
        cc_item it;
        EXPECT_STATUS(c, CC_OK, cc_get(c, key, strlen(key), &it));
        sum += it.value.i;
        cc_item_release(&it);
    }
    /* each key was created by its first INCR as initial 0 + 1, then counted the rest */
    assert_int_equal(sum, TOTAL_INCRS);
    cc_client_destroy(&c);
}

/* ---- malformed requests sent raw ---- */

static void _expect_status_raw(int fd, const void *body, size_t len, uint64_t want)
{
    assert_int_equal(harness_send_frame(fd, body, len), 0);
    uint8_t *reply;
    size_t rlen;
    assert_int_equal(harness_recv_frame(fd, &reply, &rlen), 0);
    struct mp_cursor c;
    mp_cursor_init(&c, reply, rlen);
    uint32_t n;
    uint64_t id, status;
    assert_true(mp_read_array(&c, &n) && mp_read_uint(&c, &id) && mp_read_uint(&c, &status));
    if (status != want)
        fail_msg("expected status %lu, got %lu", (unsigned long)want, (unsigned long)status);
    if (status >= 100) {
        const uint8_t *msg;
        uint32_t ml;
        assert_true(n == 3 && mp_read_bytes(&c, &msg, &ml) && ml > 0);
    }
    free(reply);
}

static void test_malformed_requests_fail_alone(void **state)
{
    (void)state;
    int fd = harness_connect(srv);
    /* unknown opcode */
    _expect_status_raw(fd, "\x92\x63\x01", 3, CC_E_UNKNOWN_OP);
    /* GET with an int key, SET with too few args, INCR with a string delta */
    _expect_status_raw(fd, "\x93\x02\x02\x05", 4, CC_E_BAD_ARGS);
    _expect_status_raw(fd, "\x93\x04\x03\xa1k", 5, CC_E_BAD_ARGS);
    _expect_status_raw(fd, "\x94\x0a\x04\xa1k\xa1x", 7, CC_E_BAD_ARGS);
    /* HELLO with an unsupported version */
    _expect_status_raw(fd, "\x93\x01\x05\x09", 4, CC_E_VERSION);
    /* not an array; trailing bytes; an id that is not a uint */
    _expect_status_raw(fd, "\xa3" "abc", 4, CC_E_PROTOCOL);
    _expect_status_raw(fd, "\x92\x00\x06\xc0", 4, CC_E_PROTOCOL);
    _expect_status_raw(fd, "\x92\x00\xff", 3, CC_E_PROTOCOL);
    /* a SET whose value nests 10,000 arrays deep: refused as a whole frame, no recursion */
    size_t depth = 10000;
    uint8_t *deep = malloc(depth + 16);
    size_t off = 0;
    deep[off++] = 0x94;
    deep[off++] = 0x04;
    deep[off++] = 0x07;
    deep[off++] = 0xa1;
    deep[off++] = 'd';
    memset(deep + off, 0x91, depth);
    off += depth;
    deep[off++] = 0xc0;
    _expect_status_raw(fd, deep, off, CC_E_PROTOCOL);
    /* 33 deep inside SET: the frame is fine, the value is refused */
    off = 5;
    memset(deep + off, 0x91, 33);
    off += 33;
    deep[off++] = 0xc0;
    _expect_status_raw(fd, deep, off, CC_E_BAD_VALUE);
    /* an ext type other than objects */
    _expect_status_raw(fd, "\x94\x04\x08\xa1" "e\xd4\x05\x00", 8, CC_E_BAD_VALUE);
    free(deep);
    /* and the same connection still works */
    _expect_status_raw(fd, "\x92\x00\x09", 3, CC_OK);
    close(fd);
    assert_int_equal(harness_ping(srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_ttl_touch_and_expiry),
        cmocka_unit_test(test_ttl_beyond_the_maximum_is_refused),
        cmocka_unit_test(test_nx_xx_and_cas),
        cmocka_unit_test(test_multi_key_operations),
        cmocka_unit_test(test_multi_key_operations_beyond_the_server_limit),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_streams_by_ranges),
        cmocka_unit_test(test_scan_namespaces_and_flush),
        cmocka_unit_test(test_stats_info_config),
        cmocka_unit_test(test_limits_fail_alone),
        cmocka_unit_test(test_frame_too_large_refused_locally),
        cmocka_unit_test(test_batch_pipelines_mixed_operations),
        cmocka_unit_test(test_batch_has_every_operation),
        cmocka_unit_test(test_batch_mget_beyond_the_server_limit),
        cmocka_unit_test(test_malformed_requests_fail_alone),
        cmocka_unit_test(test_concurrent_incr_totals_are_exact),
        cmocka_unit_test(test_reconnects_after_restart_and_refuses_nowhere),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
