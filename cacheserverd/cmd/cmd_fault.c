/* FAULT what n: test-only fault injection (docs/reliability.md, "Fault injection"),
 * compiled only into builds configured with -Dfault_injection=true; elsewhere op 24 is
 * E_UNKNOWN_OP. It answers a count (below, per fault).
 *   corrupt-values n   flip a bit in the stored value of up to n items in memory (answers
 *                      how many it corrupted)
 *   corrupt-streams n  flip a bit in a chunk of up to n streams in memory (the first chunk
 *                      memory holds), leaving its checksum (answers how many)
 *   corrupt-records n  flip a bit in the value of this node's next n changes to its peers,
 *                      after their checksum was taken (answers n)
 *   fence n            fence this node (n is ignored) as a failed self-check would, with the
 *                      reason "fault injection"; answers 1 when this fenced it
 *   fail-allocs n      the next n heap allocations (malloc, calloc, realloc, strdup, strndup)
 *                      that our code makes while a worker handles a request fail (NULL),
 *                      after the ones skip-allocs lets through; 0 disarms (and clears
 *                      skip-allocs). Answers how many failures the previous arming had left
 *                      unused (0: all of them happened). The hook is fault_alloc.c; it needs
 *                      the executable linked with --wrap, which cacheserverd/meson.build does
 *                      in fault builds. A request must answer E_NOMEM, never crash.
 *   skip-allocs n      let the next n of those allocations succeed before fail-allocs starts
 *                      failing them (set it first: fail-allocs keeps it); answers how many
 *                      allocations the hook failed since the server started.
 *   shm-bad-size n     the next n HELLOs with shm "r" get, instead of the region, a memfd
 *                      of its header and namespace tables only, whose header claims the
 *                      region's size (answers n, 0 without a region)
 *   shm-unsealed n     the same with a copy of the header in a memfd of the region's size
 *                      that is not sealed
 *   corrupt-shm n      flip a byte in the value part of up to n entries published in the
 *                      shared-memory region, leaving the slots' seq and the entries' crc as
 *                      they were: a reader's checksum fails (answers how many)
 *   vlog-sync-fail n   the next n fdatasyncs of a value log tier's active segment fail with
 *                      EIO (answers n): the segment is sealed where its last good sync
 *                      ended and the records after it leave the index
 * FAULT itself runs outside the hook: arming and disarming never fail. */
#include <string.h>

#include "cmd-internal.h"
#include "fault_alloc.h"

#ifdef CACHE_FAULT_INJECTION
#include "fence.h"
#include "repl.h"
#include "tiering.h"

void cmd_fault(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    const uint8_t *what;
    uint32_t wlen;
    uint64_t n;
    if (!mp_read_bytes(&q->args, &what, &wlen) || !mp_read_uint(&q->args, &n) ||
        n > UINT32_MAX) {
        cmd_bad_usage(q, r);
        return;
    }
    uint64_t done;
    if (wlen == 14 && !memcmp(what, "corrupt-values", 14)) {
        done = store_fault_corrupt_values((uint32_t)n, false);
    } else if (wlen == 15 && !memcmp(what, "corrupt-streams", 15)) {
        done = store_fault_corrupt_values((uint32_t)n, true);
    } else if (wlen == 15 && !memcmp(what, "corrupt-records", 15)) {
        repl_fault_corrupt_records((uint32_t)n);
        done = n;
    } else if (wlen == 5 && !memcmp(what, "fence", 5)) {
        done = fence_set("fault injection (FAULT fence)");
    } else if (wlen == 11 && !memcmp(what, "fail-allocs", 11)) {
        done = fault_alloc_arm((uint32_t)n);
    } else if (wlen == 11 && !memcmp(what, "skip-allocs", 11)) {
        fault_alloc_skip((uint32_t)n);
        done = fault_alloc_failed();
    } else if (wlen == 12 && !memcmp(what, "shm-bad-size", 12)) {
        done = store_shm_fault_arm(STORE_SHM_FAULT_BAD_SIZE, (uint32_t)n);
    } else if (wlen == 12 && !memcmp(what, "shm-unsealed", 12)) {
        done = store_shm_fault_arm(STORE_SHM_FAULT_UNSEALED, (uint32_t)n);
    } else if (wlen == 11 && !memcmp(what, "corrupt-shm", 11)) {
        done = store_shm_fault_corrupt((uint32_t)n);
    } else if (wlen == 14 && !memcmp(what, "vlog-sync-fail", 14)) {
        done = tiering_fault_sync_fail((uint32_t)n);
    } else {
        reply_error(r, q->id, CC_E_BAD_ARGS, "FAULT knows corrupt-values, corrupt-streams, "
                    "corrupt-records, fence, fail-allocs, skip-allocs, shm-bad-size, "
                    "shm-unsealed, corrupt-shm and vlog-sync-fail");
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint64(&r->pk, done);
}
#endif
