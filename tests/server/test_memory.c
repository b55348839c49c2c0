/* Memory bound of a real cacheserverd: writing 3x the memory limit of mixed-size values keeps
 * bytes_used under the limit and the process RSS under the limit plus the overhead documented
 * in docs/design.md (MEMORY_OVERHEAD below); reading the survivors back gives the values
 * written. Requests are pipelined raw frames through the harness. */
#include <setjmp.h>
#include <stdarg.h>
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

#define LIMIT_MIB 64
/* documented in docs/design.md: RSS <= memory + 12.5% + 16 MiB */
#define MEMORY_OVERHEAD(limit) ((limit) / 8 + 16ull * 1024 * 1024)
#define BATCH 200

static uint64_t _rss_bytes(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    uint64_t kb = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

/* Deterministic value for key i: its size varies 100..4000 bytes. */
static size_t _value(uint64_t i, char *buf)
{
    size_t len = 100 + (size_t)((i * 2654435761u) % 3900);
    for (size_t j = 0; j < len; j++)
        buf[j] = (char)('a' + (i + j) % 26);
    return len;
}

static void _send_batch(int fd, uint64_t first, int n, int op)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    static char val[4096];
    for (int b = 0; b < n; b++) {
        msgpack_sbuffer body;
        msgpack_sbuffer_init(&body);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
        uint64_t i = first + (uint64_t)b;
        char key[32];
        int klen = snprintf(key, sizeof(key), "mem:%lu", (unsigned long)i);
        msgpack_pack_array(&pk, op == CC_OP_SET ? 4 : 3);
        msgpack_pack_uint8(&pk, (uint8_t)op);
        msgpack_pack_uint64(&pk, i);
        msgpack_pack_bin(&pk, (size_t)klen);
        msgpack_pack_bin_body(&pk, key, (size_t)klen);
        if (op == CC_OP_SET) {
            size_t len = _value(i, val);
            msgpack_pack_bin(&pk, len);
            msgpack_pack_bin_body(&pk, val, len);
        }
        uint8_t hdr[4];
        cc_be32_write(hdr, (uint32_t)body.size);
        msgpack_sbuffer_write(&sb, (const char *)hdr, 4);
        msgpack_sbuffer_write(&sb, body.data, body.size);
        msgpack_sbuffer_destroy(&body);
    }
    assert_int_equal(harness_send(fd, sb.data, sb.size), 0);
    msgpack_sbuffer_destroy(&sb);
}

static int64_t _stat(int fd, const char *name)
{
    uint8_t req[] = {0x92, CC_OP_STATS, 0x00};
    assert_int_equal(harness_send_frame(fd, req, sizeof(req)), 0);
    uint8_t *body;
    size_t len;
    assert_int_equal(harness_recv_frame(fd, &body, &len), 0);
    struct mp_cursor c;
    mp_cursor_init(&c, body, len);
    uint32_t n, m;
    uint64_t id, status;
    assert_true(mp_read_array(&c, &n) && mp_read_uint(&c, &id) && mp_read_uint(&c, &status));
    assert_int_equal(status, CC_OK);
    assert_true(mp_read_map(&c, &m));
    int64_t found = -1;
    for (uint32_t i = 0; i < m; i++) {
        const uint8_t *k;
        uint32_t kl;
        assert_true(mp_read_bytes(&c, &k, &kl));
        uint64_t v;
        if (kl == strlen(name) && memcmp(k, name, kl) == 0 && mp_read_uint(&c, &v))
            found = (int64_t)v;
        else
            assert_true(mp_skip(&c, 4));
    }
    free(body);
    return found;
}

static void test_filling_3x_the_limit_keeps_rss_bounded(void **state)
{
    (void)state;
    char mem[16];
    snprintf(mem, sizeof(mem), "%dMiB", LIMIT_MIB);
    const char *args[] = {"--memory", mem, NULL};
    struct harness *h = harness_start(args);
    int fd = harness_connect(h);
    uint64_t limit = (uint64_t)LIMIT_MIB << 20;
    uint64_t written = 0, keys = 0;
    static char val[4096];
    while (written < 3 * limit) {
        _send_batch(fd, keys, BATCH, CC_OP_SET);
        for (int b = 0; b < BATCH; b++) {
            uint8_t *body;
            size_t len;
            assert_int_equal(harness_recv_frame(fd, &body, &len), 0);
            struct mp_cursor c;
            mp_cursor_init(&c, body, len);
            uint32_t n;
            uint64_t id, status;
            assert_true(mp_read_array(&c, &n) && mp_read_uint(&c, &id) &&
                        mp_read_uint(&c, &status));
            if (status != CC_OK)
                fail_msg("SET %lu: expected status 0, got %lu", (unsigned long)id,
                         (unsigned long)status);
            free(body);
            written += _value(keys + (uint64_t)b, val);
        }
        keys += BATCH;
    }
    int64_t used = _stat(fd, "bytes_used");
    int64_t evictions = _stat(fd, "evictions");
    uint64_t rss = _rss_bytes(harness_pid(h));
    printf("# wrote %lu MiB in %lu keys; bytes_used %ld, evictions %ld, RSS %lu MiB, limit %d MiB\n",
           (unsigned long)(written >> 20), (unsigned long)keys, (long)used, (long)evictions,
           (unsigned long)(rss >> 20), LIMIT_MIB);
    assert_true(used > 0 && (uint64_t)used <= limit);
    assert_true(evictions > 0);
#if defined(__SANITIZE_ADDRESS__)
    printf("# ASan build: shadow memory and quarantine inflate RSS; RSS bound not checked\n");
#else
    if (rss > limit + MEMORY_OVERHEAD(limit))
        fail_msg("RSS %lu bytes exceeds limit %lu + documented overhead %llu", (unsigned long)rss,
                 (unsigned long)limit, (unsigned long long)MEMORY_OVERHEAD(limit));
#endif
    /* every key still present reads back exactly what was written; the newest ones survive */
    uint64_t hits = 0;
    for (uint64_t first = 0; first < keys; first += BATCH) {
        _send_batch(fd, first, BATCH, CC_OP_GET);
        for (int b = 0; b < BATCH; b++) {
            uint8_t *body;
            size_t len;
            assert_int_equal(harness_recv_frame(fd, &body, &len), 0);
            struct mp_cursor c;
            mp_cursor_init(&c, body, len);
            uint32_t n, vl;
            uint64_t id, status, type;
            const uint8_t *v;
            assert_true(mp_read_array(&c, &n) && mp_read_uint(&c, &id) &&
                        mp_read_uint(&c, &status));
            if (status == CC_OK) {
                assert_true(mp_read_uint(&c, &type) && mp_read_bytes(&c, &v, &vl));
                size_t want = _value(id, val);
                if (vl != want || memcmp(v, val, want) != 0)
                    fail_msg("key mem:%lu read back a different value", (unsigned long)id);
                hits++;
            } else {
                assert_int_equal(status, CC_NOT_FOUND);
            }
            free(body);
        }
    }
    assert_true(hits > 0 && hits < keys);
    close(fd);
    assert_int_equal(harness_ping(h), 0);
    harness_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filling_3x_the_limit_keeps_rss_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
