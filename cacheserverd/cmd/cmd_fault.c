/* FAULT what n: test-only fault injection (docs/reliability.md, "Fault injection"),
 * compiled only into builds configured with -Dfault_injection=true; elsewhere op 24 is
 * E_UNKNOWN_OP. It answers how many faults it set up.
 *   corrupt-values n   flip a bit in the stored value of up to n items in memory
 *   corrupt-records n  flip a bit in the value of this node's next n changes to its peers,
 *                      after their checksum was taken */
#include <string.h>

#include "cmd-internal.h"

#ifdef CACHE_FAULT_INJECTION
#include "repl.h"

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
        done = store_fault_corrupt_values((uint32_t)n);
    } else if (wlen == 15 && !memcmp(what, "corrupt-records", 15)) {
        repl_fault_corrupt_records((uint32_t)n);
        done = n;
    } else {
        reply_error(r, q->id, CC_E_BAD_ARGS, "FAULT knows corrupt-values and corrupt-records");
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint64(&r->pk, done);
}
#endif
