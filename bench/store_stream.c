/* cache-store-stream: what APPEND and GETRANGE of a stream cost in the store itself (no
 * network): thread CPU time per operation, which a busy machine disturbs less than
 * throughput (docs/performance.md, "Checksums").
 *   cache-store-stream append SIZE N          N appends of SIZE bytes (a new key every 4096)
 *   cache-store-stream getrange SIZE N MODE   N ranges of SIZE bytes at random offsets of a
 *                                             64 MiB stream, verify-reads MODE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store.h"
#include "option.h"

static double _cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static void _cfg(const char *n, const char *v)
{
    char err[256];
    if (option_registry_set(n, v, false, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", n, err);
        exit(1);
    }
}
static void _piece(void *ctx, const uint8_t *d, size_t len, void (*rel)(void *), void *arg)
{
    *(uint64_t *)ctx += d[0] + len;
    rel(arg);
}
int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "append") && (strcmp(argv[1], "getrange") || argc < 5))) {
        fprintf(stderr, "usage: cache-store-stream append SIZE N | getrange SIZE N MODE\n");
        return 2;
    }
    size_t size = strtoul(argv[2], NULL, 10);
    uint64_t n = strtoull(argv[3], NULL, 10);
    store_options_register();
    _cfg("memory", "2GiB");
    if (argc > 4)
        _cfg("verify_reads", argv[4]);
    if (store_setup() != 0)
        return 1;
    uint8_t *buf = malloc(1 << 20);
    for (int i = 0; i < 1 << 20; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    struct store_key k;
    char key[32];
    uint64_t len, sink = 0;
    double t0, t1;
    if (!strcmp(argv[1], "append")) {
        t0 = _cpu_ns();
        for (uint64_t i = 0; i < n; i++) {
            int kl = snprintf(key, sizeof(key), "a%llu", (unsigned long long)(i / 4096));
            store_key_init(&k, 0, key, (uint32_t)kl);
            if (i % 4096 == 0 && i) {
                char old[32];
                int ol = snprintf(old, sizeof(old), "a%llu", (unsigned long long)(i / 4096 - 1));
                struct store_key ok;
                store_key_init(&ok, 0, old, (uint32_t)ol);
                store_del(&ok);
            }
            if (store_append(&k, buf, (uint32_t)size, 0, &len) != STORE_OK)
                return 1;
        }
        t1 = _cpu_ns();
    } else {
        store_key_init(&k, 0, "g", 1);
        for (int i = 0; i < 64; i++)
            store_append(&k, buf, 1 << 20, 0, &len);
        uint64_t seed = 88172645463325252ull, total;
        t0 = _cpu_ns();
        for (uint64_t i = 0; i < n; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            if (store_range(&k, seed % ((64u << 20) - size), size, _piece, NULL, &sink, &total) !=
                STORE_OK)
                return 1;
        }
        t1 = _cpu_ns();
    }
    printf("%s %zu B%s%s: %.0f ns/op (%llu)\n", argv[1], size, argc > 4 ? " verify-reads " : "",
           argc > 4 ? argv[4] : "", (t1 - t0) / (double)n, (unsigned long long)(sink & 1));
    return 0;
}
