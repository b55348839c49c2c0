/* The shared-memory read region's layout (docs/shm-reads.md, "The region"): the contract
 * between the server, which writes it (cacheserverd/store/shm.c), and readers, which map it
 * read-only. Host byte order: the region never leaves the host. A change of anything here, or
 * of the key hash (keyhash.h), is a new SHM_FORMAT. */
#ifndef COMMON_SHM_FORMAT_H
#define COMMON_SHM_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x01004d4853445343ull /* "CSDSHM\0\1" read as a little-endian u64 */
#define SHM_FORMAT 1
#define SHM_HEADER_SIZE 4096u
#define SHM_NSHARDS 256u
#define SHM_MAX_NS 1024u         /* STORE_MAX_NAMESPACES */
#define SHM_NS_NAME_MAX 64u      /* STORE_MAX_NS_LEN */
#define SHM_ENTRY_MAX 4096u      /* shm-entry-max: larger entries are never published */
#define SHM_WAYS 4u              /* slots per bucket */
#define SHM_ENTRY_SKIP 0x01u     /* shm_entry.flags: a skip record (the rest of the ring) */
#define SHM_HEARTBEAT_MS 20u     /* how often csd-shm writes heartbeat_ms */
#define SHM_STALE_MS 200u        /* a reader treats an older heartbeat as a dead server */

/* The first SHM_HEADER_SIZE bytes. Fields marked atomic are read with atomics. */
struct shm_header {
    uint64_t magic;
    uint32_t format;
    uint32_t header_size;     /* SHM_HEADER_SIZE */
    uint32_t nshards;         /* SHM_NSHARDS */
    uint32_t slots_per_shard; /* S: a power of two, at least 64 */
    uint32_t ring_size;       /* R: a multiple of 4 KiB */
    uint32_t pad0;
    uint64_t total_size;      /* the file's size (fstat) */
    uint64_t region_id;       /* random per server run */
    uint32_t server_pid;
    uint32_t dead;            /* atomic: 1 = never use this region again */
    uint32_t open;            /* atomic: 0 = do not serve from it now */
    uint32_t pad1;
    uint64_t heartbeat_ms;    /* atomic: CLOCK_MONOTONIC ms, every SHM_HEARTBEAT_MS */
    uint32_t ns_count;        /* atomic (release after the name): names in the table */
};

/* One namespace's name in the table (id = index). */
struct shm_ns_name {
    uint8_t len;
    char name[SHM_NS_NAME_MAX];
    uint8_t pad[7];
};

/* A slot: one cache line. Bucket b of shard s is slots SHM_WAYS*b .. SHM_WAYS*b+3 of part s.
 * Every field is written with atomic stores under the seqlock `seq` (even: stable). */
struct shm_slot {
    uint64_t seq;
    uint64_t hash;      /* the key's cc_key_hash; 0 = empty */
    uint64_t pos;       /* logical position of the entry in the shard's ring */
    uint64_t version;
    uint64_t expire_ms; /* absolute unix ms, 0 = none */
    uint64_t nsflush;   /* ns_flush[ns] when published */
    uint32_t len;       /* bytes of the entry (a multiple of 8, at most SHM_ENTRY_MAX) */
    uint16_t ns;
    uint16_t klen;
    uint8_t type;
    uint8_t pad[7];
};

/* An entry in a ring: this header, the key, the value's msgpack encoding, padding to 8. */
struct shm_entry {
    uint64_t pos;  /* its own logical position */
    uint32_t slot; /* the server's: the slot it was published in (for reclaiming) */
    uint32_t len;  /* bytes in all, padding included */
    uint32_t vlen;
    uint32_t crc;  /* CRC-32C of key, value and type (store_value_crc without counter state) */
    uint16_t klen;
    uint8_t type;
    uint8_t flags; /* SHM_ENTRY_SKIP */
    uint32_t pad;
};

_Static_assert(sizeof(struct shm_header) <= SHM_HEADER_SIZE, "shm header fits");
_Static_assert(sizeof(struct shm_ns_name) == 72, "shm ns name is 72 bytes");
_Static_assert(sizeof(struct shm_slot) == 64, "shm slot is one cache line");
_Static_assert(sizeof(struct shm_entry) == 32, "shm entry header is 32 bytes");

/* Offsets of the parts that follow the header. */
#define SHM_NS_FLUSH_OFF ((size_t)SHM_HEADER_SIZE)
#define SHM_NS_NAMES_OFF (SHM_NS_FLUSH_OFF + SHM_MAX_NS * sizeof(uint64_t))
#define SHM_PARTS_OFF (SHM_NS_NAMES_OFF + SHM_MAX_NS * sizeof(struct shm_ns_name))
_Static_assert(SHM_PARTS_OFF % 4096 == 0, "the shard parts start on a page");

/* Shard part s: S slots, then the ring. */
static inline size_t shm_part_size(uint32_t slots, uint32_t ring)
{
    return (size_t)slots * sizeof(struct shm_slot) + ring;
}

#endif
