/* Rate-limited logging: at most one line per interval per limiter, from any thread, with the
 * number of lines skipped since the last one. A limiter is a static zero-initialised struct
 * with its interval set: static struct ratelimit rl = {.interval_ms = 10000}; an interval of
 * 0 means one second. */
#ifndef UTIL_RATELIMIT_H
#define UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit {
    uint32_t interval_ms;
    uint64_t next_us;    /* atomic */
    uint64_t suppressed; /* atomic */
};

/* True when a line may be logged now; *suppressed = the lines skipped since the last one. */
bool ratelimit_ok(struct ratelimit *r, uint64_t *suppressed);
/* " (N similar lines skipped)" for a log line, or "" when N is 0. Returns buf. */
const char *ratelimit_note(uint64_t suppressed, char *buf, size_t len);

#endif
