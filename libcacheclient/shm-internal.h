/* Private to libcacheclient: the shared-memory read region (docs/shm-reads.md). shm_read.c
 * looks keys up in a mapping (nothing else: the fuzz target calls it alone); shm.c checks,
 * maps and shares regions between the clients of a process, counts their hits and reports
 * them to the server (SHM_REPORT). */
#ifndef CACHECLIENT_SHM_INTERNAL_H
#define CACHECLIENT_SHM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm_format.h"

#define CC_SHM_CLOCK_AHEAD_MS 50u /* a header's heartbeat ahead of our clock by more: another
                                   * time namespace */
#define CC_SHM_REPORT_MS 1000     /* hits older than this are reported on their own */
#define CC_SHM_PIGGYBACK_MS 100   /* a socket request carries a report of hits this old (a
                                   * bad entry's hash at once) */

/* A mapping whose geometry passed the map-time checks: what a lookup trusts. */
struct cc_shm_view {
    const uint8_t *base;
    uint32_t slots, ring; /* S and R */
};

enum cc_shm_result {
    CC_SHM_HIT,   /* a stable copy with the key and a good checksum */
    CC_SHM_MISS,  /* not there, or expired, or flushed since published */
    CC_SHM_RETRY, /* a writer changed the slot during both attempts */
    CC_SHM_STALE, /* closed (shm-reads off, fenced) or its heartbeat is old */
    CC_SHM_DEAD,  /* the server said never to use it again */
    CC_SHM_BAD,   /* a slot or entry failed its checks: corrupt (reported to the server) */
};

struct cc_shm_hit {
    uint64_t hash;         /* the key's hash (set once the region was live) */
    uint8_t type;
    uint64_t version;
    uint64_t expire_ms;    /* absolute unix ms, 0 = none */
    const uint8_t *value;  /* the value's encoding, inside buf */
    uint32_t vlen;
    uint64_t buf[SHM_ENTRY_MAX / 8]; /* the entry's copy */
};

/* shm_read.c. Is the region usable now (CC_SHM_HIT), or closed, stale or dead? */
enum cc_shm_result cc_shm_check_live(const struct cc_shm_view *v, uint64_t now_mono_ms);
/* The id of namespace name[0..len) in the region's table, or -1 (not named yet). */
int cc_shm_ns_find(const struct cc_shm_view *v, const char *name, size_t len);
/* Look key up in namespace ns. now_mono_ms is CLOCK_MONOTONIC (for the heartbeat), now_wall_ms
 * CLOCK_REALTIME (for expiry, as the server tests it). */
enum cc_shm_result cc_shm_lookup(const struct cc_shm_view *v, uint16_t ns, const void *key,
                                 size_t klen, uint64_t now_mono_ms, uint64_t now_wall_ms,
                                 struct cc_shm_hit *hit);

struct cc_client;
struct cc_item;

/* shm.c. cc_shm_map checks a region's descriptor as the design's map-time checks say (seals,
 * size, magic, format, geometry, heartbeat) and maps it read-only: 0, or -1 with the reason
 * in err (nothing mapped). */
int cc_shm_map(int fd, const void **base, size_t *size, uint64_t *region_id, char *err,
               size_t errlen);
/* HELLO brought fd (consumed: closed in every case): take a reference to its region in the
 * process-wide registry (mapping it unless this process has it for c's socket path already),
 * dropping the one c held. 0, or -1 with the reason in c->shm_err (c keeps what it held). */
int cc_shm_attach(struct cc_client *c, int fd);
/* Drop c's reference (the last one unmaps; the registry holds one while the region is the
 * current one of its socket path). */
void cc_shm_release(struct cc_client *c);
/* The server on c's socket path gave no region: the path's current one, if any, is current
 * no more, and c drops its reference. */
void cc_shm_forget_path(struct cc_client *c);
/* A client without a region that may read one takes the current region of its socket path,
 * if this process has one (before connecting: a new client of a process that was handed the
 * region once reads it at once). */
void cc_shm_adopt(struct cc_client *c);
/* The namespace the client selected changed: look its id up again. */
void cc_shm_ns_changed(struct cc_client *c);
/* Does c's region name its selected namespace (so the server knows the name, and a NAMESPACE
 * of it cannot fail for the name)? */
bool cc_shm_ns_known(struct cc_client *c);
/* Answer a read of key from the region c holds (none: false): true with *out filled (an
 * item owning its copy), or false (out untouched): ask the server. Counts the outcome. */
bool cc_shm_get(struct cc_client *c, const void *key, size_t klen, struct cc_item *out);
/* A socket read of n keys happened (for cc_shm_stats). */
void cc_shm_count_socket(struct cc_client *c, size_t n);
/* A socket request should carry a report now: a bad entry waits, or hits CC_SHM_PIGGYBACK_MS
 * old (so a busy client sends at most about 10 reports a second, not one per request). */
bool cc_shm_report_due(const struct cc_client *c);
/* Unreported hits or bad entries wait: append an SHM_REPORT request to c->out (which holds
 * nothing yet) and return its id, else 0. */
uint64_t cc_shm_report_pack(struct cc_client *c);
/* Hits wait for a report longer than CC_SHM_REPORT_MS, or (force) at all: send one now and
 * read its reply (errors are the report's only: a connection error closes the connection). */
void cc_shm_report_now(struct cc_client *c, bool force);
/* Test hooks (not in the public header): the region_id c holds (0: none), and how many
 * regions this process has mapped now. */
uint64_t cc_shm_region_id(const struct cc_client *c);
unsigned cc_shm_mappings(void);

#endif
