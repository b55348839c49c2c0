/* Key hashing: 64-bit multiply-xorshift over 8-byte words, seeded with the namespace.
 * Shard = top bits, bucket = low bits, so both come from one hash. */
#include <string.h>

#include "store-internal.h"

static inline uint64_t _mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

uint64_t store_hash(uint16_t ns, const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ns << 32) ^ (len * 0xbf58476d1ce4e5b9ull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ _mix(w)) * 0x94d049bb133111ebull;
        h = (h << 31) | (h >> 33);
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h ^= _mix(tail ^ len);
    return _mix(h);
}
