/* The listening Unix socket, on the main thread: refuses to start over a live server, removes
 * a stale socket file (and then waits before listen() if the handler asks: main.c's
 * shared-memory readers of a crashed predecessor), applies mode and group before listen(),
 * accepts, checks the peer against allow_uids/allow_gids (SO_PEERCRED, SO_PEERGROUPS) and
 * max_connections, and hands each accepted connection to the worker pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core-internal.h"
#include "log.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 256          /* accepts per event, so signals are not starved */
#define ACCEPT_RETRY_MS 100       /* pause after EMFILE and the like */

static int listen_fd = -1;
static struct event *ev_accept, *ev_retry;
static char *listen_path;
static dev_t listen_dev;
static ino_t listen_ino;
static struct core_idlist allow_uids, allow_gids;
static uint64_t last_conn_id;
static struct ratelimit rl_refused, rl_rejected, rl_accept;

static int _fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        log_error("socket path '%s' is too long (at most %zu bytes)", path,
                  sizeof(sa->sun_path) - 1);
        return -1;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/* Something exists at path: refuse a live server or a non-socket, remove a stale socket.
 * 0 (nothing there), 1 (a stale socket removed) or -1. */
static int _clear_path(const char *path, const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        log_error("cannot stat '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_error("'%s' exists and is not a socket; not touching it", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("socket: %s", strerror(errno));
        return -1;
    }
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    int err = errno;
    close(fd);
    if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
        log_error("another server is already listening on '%s'", path);
        return -1;
    }
    if (err != ECONNREFUSED) {
        log_error("cannot check socket '%s': %s", path, strerror(err));
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("cannot remove stale socket '%s': %s", path, strerror(errno));
        return -1;
    }
    log_info("removed stale socket '%s'", path);
    return 1;
}

/* A stale socket was removed: wait before listen() if the handler asks (nobody can connect
 * meanwhile: the socket is bound, not listening). */
static void _stale_wait(void)
{
    const char *why = "";
    uint32_t ms = core_h && core_h->stale_socket_wait_ms ? core_h->stale_socket_wait_ms(&why) : 0;
    if (!ms)
        return;
    log_info("waiting %u ms before listening: %s", (unsigned)ms, why);
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* True if the peer's supplementary groups (SO_PEERGROUPS) meet allow_gids. */
static bool _peer_groups_allowed(int fd)
{
    gid_t small[64], *groups = small;
    socklen_t len = sizeof(small);
    bool ok = false;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) {
        if (errno != ERANGE || !(groups = malloc(len)))
            return false;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
            len = 0;
    }
    for (size_t i = 0; i < len / sizeof(gid_t) && !ok; i++)
        ok = core_idlist_has(&allow_gids, groups[i]);
    if (groups != small)
        free(groups);
    return ok;
}

static bool _peer_allowed(int fd, const struct core_peer *p)
{
    if (!allow_uids.n && !allow_gids.n)
        return true;
    if (core_idlist_has(&allow_uids, p->uid) || core_idlist_has(&allow_gids, p->gid))
        return true;
    return allow_gids.n && _peer_groups_allowed(fd);
}

static void _accept_one(int fd)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
        log_warn("SO_PEERCRED: %s; closing the connection", strerror(errno));
        close(fd);
        return;
    }
    struct core_peer peer = {.pid = cr.pid, .uid = cr.uid, .gid = cr.gid,
                             .conn_id = ++last_conn_id};
    uint64_t skipped;
    char note[64];
    if (!_peer_allowed(fd, &peer)) {
        stat_incr(&core_st.connections_refused);
        if (ratelimit_ok(&rl_refused, &skipped))
            log_warn("refused connection from pid %d uid %u gid %u: not in allow-uids/"
                     "allow-gids%s", (int)peer.pid, (unsigned)peer.uid, (unsigned)peer.gid,
                     ratelimit_note(skipped, note, sizeof(note)));
        close(fd);
        return;
    }
    uint64_t max = option_get_u(&core_opts.max_connections);
    if (stat_get(&core_st.connections) >= max) {
        stat_incr(&core_st.connections_rejected);
        if (ratelimit_ok(&rl_rejected, &skipped))
            log_warn("max-connections (%llu) reached: rejected a connection from pid %d uid %u%s",
                     (unsigned long long)max, (int)peer.pid, (unsigned)peer.uid,
                     ratelimit_note(skipped, note, sizeof(note)));
        conn_reject(fd);
        return;
    }
    stat_incr(&core_st.connections);
    stat_incr(&core_st.connections_total);
    worker_pool_dispatch(fd, &peer);
}

static void _on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            _accept_one(fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        uint64_t skipped;
        char note[64];
        int err = errno;
        if (ratelimit_ok(&rl_accept, &skipped))
            log_error("accept: %s; pausing accepts for %d ms%s", strerror(err),
                      ACCEPT_RETRY_MS, ratelimit_note(skipped, note, sizeof(note)));
        event_del(ev_accept);
        struct timeval tv = {.tv_sec = 0, .tv_usec = ACCEPT_RETRY_MS * 1000};
        evtimer_add(ev_retry, &tv);
        return;
    }
}

static void _on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (listen_fd >= 0)
        event_add(ev_accept, NULL);
}

int listener_setup(struct event_base *base, const char *path, mode_t mode, gid_t gid)
{
    struct sockaddr_un sa;
    char why[256];
    int stale;
    if (_fill_addr(&sa, path) != 0 || (stale = _clear_path(path, &sa)) < 0)
        return -1;
    if (core_idlist_parse(option_get_s(&core_opts.allow_uids), false, &allow_uids, why,
                          sizeof(why)) != 0 ||
        core_idlist_parse(option_get_s(&core_opts.allow_gids), true, &allow_gids, why,
                          sizeof(why)) != 0) {
        log_error("allow list: %s", why);
        return -1;
    }
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        log_error("socket: %s", strerror(errno));
        return -1;
    }
    /* Nobody may connect before mode and group are applied: bind with a closed umask,
     * chmod/chown, and only then listen. */
    mode_t old = umask(0177);
    int rc = bind(listen_fd, (const struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0) {
        log_error("cannot bind '%s': %s", path, strerror(errno));
        goto fail;
    }
    listen_path = strdup(path);
    struct stat st;
    if (!listen_path || stat(path, &st) != 0) {
        log_error("cannot stat '%s' after bind: %s", path, strerror(errno));
        goto fail_unlink;
    }
    listen_dev = st.st_dev;
    listen_ino = st.st_ino;
    if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) {
        log_error("cannot give socket '%s' to group %u: %s", path, (unsigned)gid,
                  strerror(errno));
        goto fail_unlink;
    }
    if (chmod(path, mode) != 0) {
        log_error("cannot chmod socket '%s' to %04o: %s", path, (unsigned)mode, strerror(errno));
        goto fail_unlink;
    }
    if (stale)
        _stale_wait();
    if (listen(listen_fd, LISTEN_BACKLOG) != 0) {
        log_error("listen on '%s': %s", path, strerror(errno));
        goto fail_unlink;
    }
    ev_accept = event_new(base, listen_fd, EV_READ | EV_PERSIST, _on_accept, NULL);
    ev_retry = evtimer_new(base, _on_retry, NULL);
    if (!ev_accept || !ev_retry || event_add(ev_accept, NULL) != 0) {
        log_error("out of memory setting up the listener");
        goto fail_unlink;
    }
    return 0;
fail_unlink:
    unlink(path);
fail:
    listener_close();
    return -1;
}

void listener_close(void)
{
    if (ev_accept) {
        event_free(ev_accept);
        ev_accept = NULL;
    }
    if (ev_retry) {
        event_free(ev_retry);
        ev_retry = NULL;
    }
    if (listen_fd >= 0) {
        close(listen_fd);
        listen_fd = -1;
    }
    if (listen_path) {
        /* Only remove the path if it is still the socket we bound (not a successor's). */
        struct stat st;
        if (stat(listen_path, &st) == 0 && st.st_dev == listen_dev && st.st_ino == listen_ino)
            unlink(listen_path);
        free(listen_path);
        listen_path = NULL;
    }
}
