/* The key hash: 64-bit multiply-xorshift over 8-byte words, seeded with the namespace id.
 * The server's shard (top 8 bits) and bucket (low bits) come from it, and so will a
 * shared-memory reader's slot (docs/shm-reads.md): a change of it is a format change there.
 * The health monitor checks known answers at start (cacheserverd/health/health.c). */
#ifndef COMMON_KEYHASH_H
#define COMMON_KEYHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t cc_key_hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static inline uint64_t cc_key_hash(uint16_t ns, const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ns << 32) ^ (len * 0xbf58476d1ce4e5b9ull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ cc_key_hash_mix(w)) * 0x94d049bb133111ebull;
        h = (h << 31) | (h >> 33);
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h ^= cc_key_hash_mix(tail ^ len);
    return cc_key_hash_mix(h);
}

#endif
