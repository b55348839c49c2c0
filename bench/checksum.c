/* cache-checksum: how long a value's checksum takes, per value size: CRC-32C with the CPU's
 * instruction (what the server uses when the CPU has it), CRC-32C by table (its fallback and
 * its known-answer reference), and XXH3-64 (libxxhash), the alternative considered.
 * Prints one line per size: ns per value and GB/s for each. Single thread; pin it with
 * taskset. Usage: cache-checksum [SECONDS-PER-CELL] (default 0.2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"
#ifdef HAVE_XXHASH
#include <xxhash.h>
#endif

static double _now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

enum { CRC_HW, CRC_TABLE, XXH3 };

static uint64_t _one(int kind, const uint8_t *p, size_t len)
{
    switch (kind) {
    case CRC_HW:
        return crc32c(0, p, len);
    case CRC_TABLE:
        return crc32c_table(0, p, len);
#ifdef HAVE_XXHASH
    case XXH3:
        return XXH3_64bits(p, len);
#endif
    default:
        return 0;
    }
}

/* ns per checksum of len bytes, over about `secs` seconds */
static double _measure(int kind, const uint8_t *buf, size_t len, double secs)
{
    uint64_t n = 0, acc = 0;
    double t0 = _now(), t;
    do {
        for (int i = 0; i < 256; i++)
            acc += _one(kind, buf + (i & 7), len); /* a few alignments */
        n += 256;
    } while ((t = _now()) - t0 < secs);
    sink = acc;
    return (t - t0) * 1e9 / (double)n;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.2;
    static const size_t sizes[] = {16, 64, 100, 256, 1024, 4096, 16384, 65536, 1 << 20};
    uint8_t *buf = malloc((1 << 20) + 8);
    if (!buf)
        return 1;
    for (size_t i = 0; i < (1u << 20) + 8; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    printf("crc32c uses the CPU's instruction: %s\n", crc32c_hw() ? "yes" : "no (table)");
    printf("%9s  %22s  %22s  %22s\n", "bytes", "crc32c (used) ns, GB/s", "crc32c table ns, GB/s",
#ifdef HAVE_XXHASH
           "XXH3-64 ns, GB/s"
#else
           "XXH3 (not built)"
#endif
    );
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t len = sizes[s];
        printf("%9zu", len);
        for (int kind = CRC_HW; kind <= XXH3; kind++) {
#ifndef HAVE_XXHASH
            if (kind == XXH3) {
                printf("  %22s", "-");
                continue;
            }
#endif
            double ns = _measure(kind, buf, len, secs);
            printf("  %12.1f %9.2f", ns, (double)len / ns);
        }
        printf("\n");
    }
    free(buf);
    return 0;
}
