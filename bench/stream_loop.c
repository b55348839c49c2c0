/* cache-stream-loop: APPEND or GETRANGE in a loop on one connection, for what the streams'
 * chunk checksums cost (docs/performance.md, "Checksums").
 *   cache-stream-loop SOCKET append SIZE SECONDS [SERVER_PID]
 *       APPENDs of SIZE bytes; a new key every 4096 of them (the old one deleted)
 *   cache-stream-loop SOCKET getrange SIZE SECONDS [SERVER_PID]
 *       GETRANGEs of SIZE bytes at random offsets of one stream of 64 MiB
 * Prints ops/s and, with SERVER_PID, the server's CPU time per op (utime + stime). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"

static double _now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The server's CPU time in seconds, or 0 without a pid. */
static double _cpu(long pid)
{
    if (!pid)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the fields after the command name */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[2], "append") && strcmp(argv[2], "getrange"))) {
        fprintf(stderr, "usage: cache-stream-loop SOCKET append|getrange SIZE SECONDS [PID]\n");
        return 2;
    }
    bool append = !strcmp(argv[2], "append");
    size_t size = strtoul(argv[3], NULL, 10);
    double secs = atof(argv[4]);
    long pid = argc > 5 ? atol(argv[5]) : 0;
    cc_options o;
    cc_options_init(&o);
    o.socket_path = argv[1];
    cc_client *c = cc_client_create(&o);
    uint8_t *buf = malloc(size > (1u << 20) ? size : (1u << 20));
    if (!c || !buf || cc_connect(c) != CC_OK) {
        fprintf(stderr, "cache-stream-loop: cannot connect to %s\n", argv[1]);
        return 1;
    }
    for (size_t i = 0; i < (size > (1u << 20) ? size : (1u << 20)); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    const uint64_t glen = 64u << 20;
    if (!append) {
        const void *k = "sl-g";
        size_t kl = 4;
        uint64_t len = 0, d;
        cc_del(c, 1, &k, &kl, &d);
        while (len < glen)
            if (cc_append(c, "sl-g", 4, buf, 1u << 20, 0, &len) != CC_OK) {
                fprintf(stderr, "cache-stream-loop: APPEND: %s\n", cc_errmsg(c));
                return 1;
            }
    }
    uint64_t ops = 0, seed = 88172645463325252ull;
    double t0 = _now(), c0 = _cpu(pid), t;
    while ((t = _now()) - t0 < secs) {
        for (int i = 0; i < 64; i++, ops++) {
            int rc;
            if (append) {
                char key[32];
                int kl = snprintf(key, sizeof(key), "sl-a%llu", (unsigned long long)(ops / 4096));
                if (ops % 4096 == 0 && ops) { /* the previous key goes */
                    char old[32];
                    const void *k = old;
                    size_t okl = (size_t)snprintf(old, sizeof(old), "sl-a%llu",
                                                  (unsigned long long)(ops / 4096 - 1));
                    uint64_t d;
                    cc_del(c, 1, &k, &okl, &d);
                }
                uint64_t len;
                rc = cc_append(c, key, (size_t)kl, buf, size, 0, &len);
            } else {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                cc_item it = {0};
                rc = cc_getrange(c, "sl-g", 4, seed % (glen - size), size, &it);
                if (rc == CC_OK && it.value.len != size)
                    rc = -1;
                cc_item_release(&it);
            }
            if (rc != CC_OK) {
                fprintf(stderr, "cache-stream-loop: %s: %s\n", argv[2], cc_errmsg(c));
                return 1;
            }
        }
    }
    double cpu = _cpu(pid) - c0;
    printf("%s %zu B: %.0f ops/s", argv[2], size, (double)ops / (t - t0));
    if (pid)
        printf(", server CPU %.2f us/op", cpu * 1e6 / (double)ops);
    printf("\n");
    cc_client_destroy(&c);
    free(buf);
    return 0;
}
