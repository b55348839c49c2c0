/* Rate-limited logging (ratelimit.h). */
#include "ratelimit.h"

#include <stdio.h>

#include "clock.h"

bool ratelimit_ok(struct ratelimit *r, uint64_t *suppressed)
{
    uint64_t now = clock_mono_us();
    uint64_t every = (r->interval_ms ? r->interval_ms : 1000u) * 1000ull;
    uint64_t next = __atomic_load_n(&r->next_us, __ATOMIC_RELAXED);
    if (now < next || !__atomic_compare_exchange_n(&r->next_us, &next, now + every, false,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&r->suppressed, 1, __ATOMIC_RELAXED);
        return false;
    }
    *suppressed = __atomic_exchange_n(&r->suppressed, 0, __ATOMIC_RELAXED);
    return true;
}

const char *ratelimit_note(uint64_t suppressed, char *buf, size_t len)
{
    buf[0] = '\0';
    if (suppressed)
        snprintf(buf, len, " (%llu similar lines skipped)", (unsigned long long)suppressed);
    return buf;
}
