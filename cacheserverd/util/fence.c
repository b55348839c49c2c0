/* Self-fencing: the state every layer reads (fence.h). */
#include "fence.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "stats.h"

#define FENCE_STATS(ACTION)                                                                  \
    ACTION(fenced, STAT_GAUGE, "1 while this node is fenced (INFO fence_reason says why)")  \
    ACTION(fences, STAT_COUNTER, "times this node fenced itself")
STAT_STRUCT(fence, FENCE_STATS);
static struct fence_stats st;
static struct stat_desc st_desc[] = STAT_DESCRIBE(FENCE_STATS);

void fence_stats_register(void) { stats_register(st_desc, STAT_COUNT(st_desc), &st); }

static bool fenced;       /* atomic */
static uint64_t since_ms; /* atomic */
static uint64_t count;    /* atomic */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* reason, and set/clear */
static char reason[256];
static void (*on_change)(void); /* atomic */

void fence_on_change(void (*fn)(void)) { __atomic_store_n(&on_change, fn, __ATOMIC_RELEASE); }

static void _changed(void)
{
    void (*fn)(void) = __atomic_load_n(&on_change, __ATOMIC_ACQUIRE);
    if (fn)
        fn();
}

bool fence_active(void) { return __atomic_load_n(&fenced, __ATOMIC_ACQUIRE); }

bool fence_set(const char *fmt, ...)
{
    pthread_mutex_lock(&lock);
    bool was = fenced;
    if (!was) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        __atomic_store_n(&since_ms, clock_wall_ms(), __ATOMIC_RELAXED);
        __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&fenced, true, __ATOMIC_RELEASE);
        stat_set(&st.fenced, 1);
        stat_incr(&st.fences);
        _changed();
        log_error("FENCED: %s. This node refuses writes (E_FENCED), serves no reads unless "
                  "fenced-reads = on, and neither sends to nor applies from its peers, until "
                  "`cache-cli cluster unfence`", reason);
    }
    pthread_mutex_unlock(&lock);
    return !was;
}

bool fence_clear(const char *who)
{
    pthread_mutex_lock(&lock);
    bool was = fenced;
    if (was) {
        log_warn("fence lifted by %s (it was: %s)", who, reason);
        reason[0] = '\0';
        __atomic_store_n(&since_ms, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&fenced, false, __ATOMIC_RELEASE);
        stat_set(&st.fenced, 0);
        _changed();
    }
    pthread_mutex_unlock(&lock);
    return was;
}

void fence_reason(char *buf, size_t len)
{
    pthread_mutex_lock(&lock);
    snprintf(buf, len, "%s", fenced ? reason : "");
    pthread_mutex_unlock(&lock);
}

uint64_t fence_since_ms(void) { return __atomic_load_n(&since_ms, __ATOMIC_RELAXED); }
uint64_t fence_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }
