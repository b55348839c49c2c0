/* The fault-injection allocator hook (FAULT fail-allocs n, skip-allocs n; docs/reliability.md,
 * "Memory that runs out"). In a build configured with -Dfault_injection=true the cacheserverd
 * executable is linked with --wrap=malloc,calloc,realloc,strdup,strndup (cacheserverd/
 * meson.build): every call to those from an object linked into the executable, that is from
 * our own static libraries, goes to __wrap_X here, and __real_X is libc's (or ASan's) X.
 * Calls made inside shared libraries (RocksDB, libevent, OpenSSL, libmsgpack-c's non-inline
 * code, libc's own) are not redirected: those libraries abort or misbehave on an allocation
 * failure by design, and a test should find our bugs, not theirs.
 *
 * An allocation fails only when both hold:
 *  - the calling thread is handling a request: cmd_dispatch sets a thread-local flag around
 *    the handler, the tier/persistence step after it and the reply's assembly (not around
 *    FAULT itself, so arming and disarming never fail); background threads (the sweeper,
 *    the tier writers, replication) never set it;
 *  - the global countdown is armed: first `skip` allocations are let through, then the next
 *    `fail` ones return NULL (errno ENOMEM). Both are atomics: any worker may take them.
 *
 * FAULT skip-allocs k then FAULT fail-allocs 1 fails exactly the (k+1)-th allocation of the
 * next request, which is how tests/server/test_nomem.c visits every allocation of a request
 * one by one. Without --wrap (the normal build, or a test executable linking this library)
 * the __wrap_ functions are never called; the weak __real_ declarations keep such links
 * working. */
#include "fault_alloc.h"

#ifdef CACHE_FAULT_INJECTION
#include <errno.h>
#include <stddef.h>

void *__real_malloc(size_t n) __attribute__((weak));
void *__real_calloc(size_t n, size_t size) __attribute__((weak));
void *__real_realloc(void *p, size_t n) __attribute__((weak));
char *__real_strdup(const char *s) __attribute__((weak));
char *__real_strndup(const char *s, size_t n) __attribute__((weak));

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static __thread bool in_request;
static uint32_t skip_left, fail_left; /* atomic */
static uint64_t failed;               /* atomic */

void fault_alloc_request(bool on) { in_request = on; }

uint32_t fault_alloc_arm(uint32_t n)
{
    if (n == 0)
        __atomic_store_n(&skip_left, 0, __ATOMIC_RELAXED);
    return __atomic_exchange_n(&fail_left, n, __ATOMIC_RELAXED);
}

void fault_alloc_skip(uint32_t n) { __atomic_store_n(&skip_left, n, __ATOMIC_RELAXED); }

uint64_t fault_alloc_failed(void) { return __atomic_load_n(&failed, __ATOMIC_RELAXED); }

/* Take one unit of a countdown when it is above 0. */
static bool _take(uint32_t *c)
{
    uint32_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (v > 0)
        if (__atomic_compare_exchange_n(c, &v, v - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return true;
    return false;
}

static bool _fail(void)
{
    if (!in_request || __atomic_load_n(&fail_left, __ATOMIC_RELAXED) == 0)
        return false;
    if (_take(&skip_left) || !_take(&fail_left))
        return false;
    __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t n) { return _fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return _fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return _fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return _fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return _fail() ? NULL : __real_strndup(s, n); }
#endif
