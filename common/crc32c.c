/* CRC-32C: the CPU's crc32 instruction (SSE 4.2) when it has one, else a table, slicing by
 * 8 bytes (built once on first use). */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t crc32c_table(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&once, build);
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc; /* little-endian machine: the low byte is the first */
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^
              table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t _crc32c_sse42(uint32_t crc, const void *data,
                                                                 size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    for (; len; p++, len--)
        c32 = _mm_crc32_u8(c32, *p);
    return ~c32;
}

static bool _have_sse42(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t _crc32c_sse42(uint32_t crc, const void *data, size_t len)
{
    return crc32c_table(crc, data, len);
}
static bool _have_sse42(void) { return false; }
#endif

static int hw = -1; /* -1 not known yet; a benign race: every thread finds the same */

bool crc32c_hw(void)
{
    int h = __atomic_load_n(&hw, __ATOMIC_RELAXED);
    if (h < 0) {
        h = _have_sse42();
        __atomic_store_n(&hw, h, __ATOMIC_RELAXED);
    }
    return h;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
    return crc32c_hw() ? _crc32c_sse42(crc, data, len) : crc32c_table(crc, data, len);
}
