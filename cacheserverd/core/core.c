/* core's lifecycle on the main thread: its options (with validation hooks) and stats, the
 * main event loop that owns the signals and the listener, and the orderly shutdown that lets
 * workers flush replies before they are joined. See core.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "clock.h"
#include "core-internal.h"
#include "log.h"

#define CORE_MAX_THREADS 1024

struct core_options core_opts;
struct core_stats core_st;
const struct core_handler *core_h;

static struct option_desc core_desc[] = OPTION_DESCRIBE(CORE_OPTIONS);
static struct stat_desc core_stat_desc[] = STAT_DESCRIBE(CORE_STATS);
static struct event_base *main_base;
static struct event *ev_term, *ev_int, *ev_hup, *ev_stop;
static unsigned nthreads;

/* ---- validation hooks ---- */

static int _parse_mode(const char *s, mode_t *mode)
{
    char *end;
    if (!*s || strlen(s) > 4 || strspn(s, "01234567") != strlen(s))
        return -1;
    unsigned long v = strtoul(s, &end, 8);
    if (v > 0777)
        return -1;
    *mode = (mode_t)v;
    return 0;
}

static int _check_mode(const struct option_desc *d, const struct option_value *v, char *err,
                       size_t errlen)
{
    (void)d;
    mode_t m;
    if (_parse_mode(v->s, &m) == 0)
        return 0;
    snprintf(err, errlen, "expected octal permissions such as 0660 (at most 0777)");
    return -1;
}

static int _check_group(const struct option_desc *d, const struct option_value *v, char *err,
                        size_t errlen)
{
    (void)d;
    struct core_idlist l;
    if (core_idlist_parse(v->s, true, &l, err, errlen) != 0)
        return -1;
    if (l.n > 1) {
        snprintf(err, errlen, "expected one group");
        return -1;
    }
    return 0;
}

static int _check_uids(const struct option_desc *d, const struct option_value *v, char *err,
                       size_t errlen)
{
    (void)d;
    struct core_idlist l;
    return core_idlist_parse(v->s, false, &l, err, errlen);
}

static int _check_gids(const struct option_desc *d, const struct option_value *v, char *err,
                       size_t errlen)
{
    (void)d;
    struct core_idlist l;
    return core_idlist_parse(v->s, true, &l, err, errlen);
}

static int _check_log_level(const struct option_desc *d, const struct option_value *v,
                            char *err, size_t errlen)
{
    (void)d;
    if (log_level_parse(v->s) >= 0)
        return 0;
    snprintf(err, errlen, "expected error, warn, info or debug");
    return -1;
}

void core_options_register(void)
{
    static const struct {
        const char *name;
        option_check_fn fn;
    } checks[] = {
        {"socket_mode", _check_mode},         {"socket_group", _check_group},
        {"allow_uids", _check_uids},          {"allow_gids", _check_gids},
        {"log_level", _check_log_level},
    };
    /* docs/config.md lists the same ranges */
    static const struct option_range ranges[] = {
        {"threads", 0, CORE_MAX_THREADS, false},             /* 0 = one per online core */
        {"max_connections", 1, 1000000, false},
        {"max_frame_size", 1ull << 20, UINT32_MAX, false},   /* frame lengths are 32-bit */
        {"max_output_buffer", 64ull << 10, 64ull << 30, false},
        {"output_timeout_ms", 100, 3600000, false},
        {"shutdown_timeout_ms", 0, 600000, false},
    };
    char err[512];
    option_bind(core_desc, STAT_COUNT(core_desc), &core_opts);
    option_registry_add("core", core_desc, STAT_COUNT(core_desc));
    for (size_t i = 0; i < STAT_COUNT(checks); i++) {
        if (option_registry_check(checks[i].name, checks[i].fn, err, sizeof(err)) != 0) {
            fprintf(stderr, "core_options_register: %s\n", err);
            abort();
        }
    }
    option_registry_ranges("core", ranges, STAT_COUNT(ranges));
}

/* ---- helpers shared inside core ---- */

unsigned core_threads(void) { return nthreads; }

/* ---- lifecycle ---- */

static void _raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("cannot raise the open files limit from %llu to %llu: %s",
                     (unsigned long long)old, (unsigned long long)rl.rlim_max, strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t want = option_get_u(&core_opts.max_connections) + 64;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_warn("open files limit %llu is below max-connections + 64 (%llu): accepts will "
                 "fail before max-connections is reached", (unsigned long long)rl.rlim_cur,
                 (unsigned long long)want);
}

static void _on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    if (sig == SIGHUP) {
        if (log_reopen() != 0)
            log_error("SIGHUP: cannot reopen the log file: %s", strerror(errno));
        else
            log_info("SIGHUP: log file reopened");
        return;
    }
    log_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(main_base);
}

static void _on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    log_info("stop requested: shutting down");
    event_base_loopbreak(main_base);
}

static unsigned _thread_count(void)
{
    uint64_t n = option_get_u(&core_opts.threads);
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (uint64_t)cores : 1;
    }
    return (unsigned)n;
}

int core_setup(const struct core_handler *h)
{
    core_h = h;
    core_options_register(); /* no-op when settings did it; defaults otherwise */
    stats_register(core_stat_desc, STAT_COUNT(core_stat_desc), &core_st);
    signal(SIGPIPE, SIG_IGN);
    _raise_nofile();

    mode_t mode = 0660;
    struct core_idlist group;
    char why[256];
    _parse_mode(option_get_s(&core_opts.socket_mode), &mode);
    if (core_idlist_parse(option_get_s(&core_opts.socket_group), true, &group, why,
                          sizeof(why)) != 0) {
        log_error("socket-group: %s", why);
        return -1;
    }
    if (evthread_use_pthreads() != 0 || !(main_base = event_base_new())) {
        log_error("cannot create the main event loop");
        goto fail;
    }
    /* libevent restores the disposition it found when the events are freed: make that
     * "ignore", so a second SIGTERM or a SIGHUP during teardown cannot kill the process
     * half-way through it. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    ev_term = evsignal_new(main_base, SIGTERM, _on_signal, NULL);
    ev_int = evsignal_new(main_base, SIGINT, _on_signal, NULL);
    ev_hup = evsignal_new(main_base, SIGHUP, _on_signal, NULL);
    ev_stop = event_new(main_base, -1, 0, _on_stop, NULL);
    if (!ev_term || !ev_int || !ev_hup || !ev_stop || event_add(ev_term, NULL) != 0 ||
        event_add(ev_int, NULL) != 0 || event_add(ev_hup, NULL) != 0) {
        log_error("cannot set up signal handling");
        goto fail;
    }
    /* Bind first (connections wait in the backlog until core_run), then start workers. */
    if (listener_setup(main_base, option_get_s(&core_opts.socket), mode,
                       group.n ? (gid_t)group.id[0] : (gid_t)-1) != 0)
        goto fail;
    nthreads = _thread_count();
    if (worker_pool_setup(nthreads) != 0) {
        nthreads = 0;
        goto fail;
    }
    return 0;
fail:
    core_teardown();
    return -1;
}

int core_run(void)
{
    event_base_dispatch(main_base);
    listener_close();
    if (core_h->stopping)
        core_h->stopping();
    worker_pool_stop();
    log_info("all connections closed; %llu served since start",
             (unsigned long long)stat_get(&core_st.connections_total));
    return 0;
}

void core_stop(void)
{
    if (ev_stop)
        event_active(ev_stop, EV_READ, 0);
}

void core_teardown(void)
{
    worker_pool_stop();
    worker_pool_teardown();
    listener_close();
    struct event **evs[] = {&ev_term, &ev_int, &ev_hup, &ev_stop};
    for (size_t i = 0; i < STAT_COUNT(evs); i++) {
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    }
    if (main_base) {
        event_base_free(main_base);
        main_base = NULL;
    }
    nthreads = 0;
    core_h = NULL;
}
