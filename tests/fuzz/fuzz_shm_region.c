/* libFuzzer target: libcacheclient's shared-memory reader (shm_read.c, docs/shm-reads.md,
 * "The reader") over a region whose bytes the input chooses. The server is trusted less than
 * it seems: a writer bug, a flipped bit or a hostile process of the server's uid could leave
 * anything in the region, and a client must then fall back, never crash or answer wrong.
 *
 * The region has the smallest geometry (64 slots and a 4 KiB ring per shard) and a valid
 * header (the map-time checks passed). The input is:
 *   byte 0        flags: bit 0 build a correct entry for the key first (so hits are reachable),
 *                 bit 1 expire it, bit 2 mark the namespace flushed since, bit 3 close the
 *                 region, bit 4 mark it dead, bit 5 make its heartbeat old
 *   byte 1        namespace id (low 2 bits)
 *   byte 2        key length (1..32), then the key
 *   byte          value length (0..255), then the value (the correct entry's)
 *   then records  [target u8, offset u16, byte u8]: xor byte into the key's bucket (target 0,
 *                 4 slots = 256 bytes), the shard's ring (1), the flush counters (2), or the
 *                 name table (3)
 * Checked after each lookup: a hit's key bytes equal the key, its CRC-32C is right, its value
 * lies inside the copy; a closed, dead or stale region (bits 3-5) never hits, nor (without
 * records, which may undo them) an expired or flushed entry. A failed check abort()s. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "keyhash.h"
#include "shm-internal.h"

#define SLOTS 64u
#define RING 4096u
#define NOW_MONO 1000000u
#define NOW_WALL 1700000000000ull

static void _fail(const char *what)
{
    fprintf(stderr, "fuzz_shm_region: %s\n", what);
    abort();
}

static uint8_t *region;
static size_t region_size;

static void _setup(void)
{
    region_size = SHM_PARTS_OFF + (size_t)SHM_NSHARDS * shm_part_size(SLOTS, RING);
    region = aligned_alloc(4096, region_size);
    if (!region)
        abort();
}

/* A header and name table as the server writes them: ids 0..3 named "", "a", "b", "c". */
static void _reset(uint8_t flags)
{
    memset(region, 0, region_size);
    struct shm_header *h = (void *)region;
    *h = (struct shm_header){.magic = SHM_MAGIC, .format = SHM_FORMAT,
                             .header_size = SHM_HEADER_SIZE, .nshards = SHM_NSHARDS,
                             .slots_per_shard = SLOTS, .ring_size = RING,
                             .total_size = region_size, .region_id = 7, .server_pid = 1,
                             .dead = (flags >> 4) & 1, .open = !((flags >> 3) & 1),
                             .heartbeat_ms = (flags & 0x20) ? NOW_MONO - 1000 : NOW_MONO,
                             .ns_count = 4};
    struct shm_ns_name *names = (void *)(region + SHM_NS_NAMES_OFF);
    for (int i = 1; i < 4; i++) {
        names[i].len = 1;
        names[i].name[0] = (char)('a' + i - 1);
    }
}

static uint8_t *_part(uint64_t hash)
{
    return region + SHM_PARTS_OFF + (size_t)(hash >> 56) * shm_part_size(SLOTS, RING);
}

/* The entry the server would publish for key (ns) with value, at ring position 0 and the
 * bucket's first way. */
static void _publish(uint16_t ns, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, uint8_t flags)
{
    uint64_t hash = cc_key_hash(ns, key, klen);
    uint8_t *part = _part(hash);
    struct shm_slot *sl = (void *)part;
    uint8_t *ring = part + SLOTS * sizeof(struct shm_slot);
    uint32_t way = (uint32_t)(hash & (SLOTS / SHM_WAYS - 1)) * SHM_WAYS;
    uint32_t len = (uint32_t)((sizeof(struct shm_entry) + klen + vlen + 7) & ~7u);
    uint8_t type = 4; /* bytes: the value must be a msgpack bin to decode, not to hit */
    uint32_t crc = crc32c(crc32c(crc32c(0, key, klen), val, vlen), &type, 1);
    struct shm_entry e = {.pos = 0, .slot = way, .len = len, .vlen = (uint32_t)vlen,
                          .crc = crc, .klen = (uint16_t)klen, .type = type};
    memcpy(ring, &e, sizeof(e));
    memcpy(ring + sizeof(e), key, klen);
    memcpy(ring + sizeof(e) + klen, val, vlen);
    uint64_t *ns_flush = (void *)(region + SHM_NS_FLUSH_OFF);
    ns_flush[ns] = (flags & 4) ? 1 : 0;
    sl[way] = (struct shm_slot){.seq = 2, .hash = hash, .pos = 0, .version = 9,
                                .expire_ms = (flags & 2) ? NOW_WALL - 1 : NOW_WALL + 1000,
                                .nsflush = 0, .len = len, .ns = ns, .klen = (uint16_t)klen,
                                .type = type};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!region)
        _setup();
    if (size < 4)
        return 0;
    uint8_t flags = data[0];
    uint16_t ns = data[1] & 3;
    size_t klen = (size_t)(data[2] % 32) + 1;
    size_t off = 3;
    if (size < off + klen + 1)
        return 0;
    const uint8_t *key = data + off;
    off += klen;
    size_t vlen = data[off++];
    if (size < off + vlen)
        vlen = size - off;
    const uint8_t *val = data + off;
    off += vlen;

    _reset(flags);
    if (flags & 1)
        _publish(ns, key, klen, val, vlen, flags);
    uint64_t hash = cc_key_hash(ns, key, klen);
    uint8_t *part = _part(hash);
    uint8_t *bucket = part + (size_t)(hash & (SLOTS / SHM_WAYS - 1)) * SHM_WAYS *
                                 sizeof(struct shm_slot);
    uint8_t *ring = part + SLOTS * sizeof(struct shm_slot);
    bool mutated = off + 4 <= size;
    for (; off + 4 <= size; off += 4) {
        uint16_t o = (uint16_t)(data[off + 1] | data[off + 2] << 8);
        uint8_t x = data[off + 3];
        switch (data[off] & 3) {
        case 0: bucket[o % (SHM_WAYS * sizeof(struct shm_slot))] ^= x; break;
        case 1: ring[o % RING] ^= x; break;
        case 2: region[SHM_NS_FLUSH_OFF + o % (SHM_MAX_NS * 8)] ^= x; break;
        case 3: region[SHM_NS_NAMES_OFF + o % (SHM_MAX_NS * sizeof(struct shm_ns_name))] ^= x;
        }
    }

    struct cc_shm_view v = {region, SLOTS, RING};
    static const char *names[] = {"", "a", "b", "c"};
    int id = cc_shm_ns_find(&v, names[ns], ns ? 1 : 0);
    if (id >= (int)SHM_MAX_NS)
        _fail("a namespace id beyond the table");
    struct cc_shm_hit hit;
    enum cc_shm_result r = cc_shm_lookup(&v, ns, key, klen, NOW_MONO, NOW_WALL, &hit);
    if (r != CC_SHM_HIT)
        return 0;
    if (flags & 0x38)
        _fail("a hit in a region that is closed, dead or stale");
    if ((flags & 6) && !mutated)
        _fail("a hit of an expired entry, or of one its namespace's FLUSH killed");
    const struct shm_entry *e = (const void *)hit.buf;
    const uint8_t *k = (const uint8_t *)(e + 1);
    if (e->klen != klen || memcmp(k, key, klen) != 0)
        _fail("a hit for another key");
    if (hit.value != k + klen || sizeof(*e) + klen + (size_t)hit.vlen > sizeof(hit.buf) ||
        hit.vlen != e->vlen)
        _fail("a hit's value outside its copy");
    uint32_t crc = crc32c(crc32c(crc32c(0, k, klen), hit.value, hit.vlen), &e->type, 1);
    if (crc != e->crc)
        _fail("a hit with a wrong checksum");
    if (hit.type >= 8)
        _fail("a hit of a type never published");
    return 0;
}
