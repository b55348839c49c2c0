/* Private to core/: the pieces shared by the listener (main thread), the worker pool and the
 * connections, with the thread each one runs on. Nothing outside core/ includes this. */
#ifndef CORE_INTERNAL_H
#define CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "core.h"
#include "ratelimit.h"

STAT_STRUCT(core, CORE_STATS);
OPTION_STRUCT(core, CORE_OPTIONS);

/* Options (values are read with option_get_* on every use for OPT_RUNTIME ones), stats and
 * the handler; set up by core_setup before any thread starts. */
extern struct core_options core_opts;
extern struct core_stats core_st;
extern const struct core_handler *core_h;

/* ---- id lists (allow_uids, allow_gids): names or numbers, comma-separated ---- */
#define CORE_IDLIST_MAX 64
struct core_idlist {
    size_t n;
    uint32_t id[CORE_IDLIST_MAX];
};
/* Parse `text` ("" = empty list); groups selects group names instead of user names.
 * Returns 0, or -1 with the reason in why. */
int core_idlist_parse(const char *text, bool groups, struct core_idlist *out, char *why,
                      size_t whylen);
bool core_idlist_has(const struct core_idlist *l, uint32_t id);

/* ---- output (conn.c): what a handler writes into ---- */
struct conn;
struct core_defer;
struct core_out {
    struct evbuffer *buf;
    bool failed; /* an append failed (out of memory): the reply is incomplete, close */
    struct conn *conn; /* the connection this output belongs to (NULL: a rejected socket) */
    struct core_defer *slot; /* a deferred reply's fill writes here: a defer begun in it
                              * takes that reply's place in the order (conn.c) */
};

/* A deferred reply (handler.h). Owned by the worker until its completion is processed, then
 * by its connection until its reply reaches the output in request order (conn.c). */
struct core_defer {
    struct core_defer *next;  /* the worker's completed list */
    struct worker *w;
    struct conn *c;           /* NULL once the connection closed (worker thread only) */
    void (*fill)(void *arg, struct core_out *out);
    void *arg;
    /* Worker thread only: */
    struct core_defer *cnext; /* the connection's deferred replies, in request order */
    struct evbuffer *reply;   /* filled, not yet at the head of the order */
    struct evbuffer *after;   /* the replies of the requests that followed, up to the next */
    bool filled;
    bool reorderable;         /* its request may be overtaken (handler->reorderable) */
};

/* ---- listener (listener.c, main thread) ---- */
/* Bind `path` (refusing if a live server answers there, removing a stale socket file), apply
 * mode and group (gid (gid_t)-1 = keep), listen, and accept on `base`. 0 or -1 (logged). */
int listener_setup(struct event_base *base, const char *path, mode_t mode, gid_t gid);
/* Stop accepting; close the socket and unlink its path if it is still ours. */
void listener_close(void);

/* ---- worker pool (worker.c) ---- */
/* Create n workers, each with its own event_base, and start their threads. 0 or -1. */
int worker_pool_setup(unsigned n);
/* Main thread: hand an accepted connection to the next worker (round-robin). The worker
 * owns fd from now on. */
void worker_pool_dispatch(int fd, const struct core_peer *peer);
/* Main thread: ask every worker to drain (no new requests, flush replies, close), wait for
 * them to finish and join them. */
void worker_pool_stop(void);
void worker_pool_teardown(void);

/* ---- connections (conn.c, on their worker's thread) ---- */
struct worker;
struct conn {
    struct conn *prev, *next; /* the owning worker's list (worker.c) */
    struct worker *w;
    int fd;
    struct event *ev_read;    /* added while requests are read */
    struct event *ev_write;   /* added while output waits for the socket */
    struct event *ev_timer;   /* stall timer: armed while paused or closing */
    struct evbuffer *in;
    struct core_out out;
    void *session;
    struct core_peer peer;
    uint64_t need;            /* bytes still missing from the frame being received */
    uint8_t *big;             /* a large frame's body, read straight into it (conn.c) */
    uint64_t big_len, big_have;
    uint64_t progress_us;     /* last time output made progress (or the stall began) */
    bool reading;             /* ev_read is added */
    bool writing;             /* ev_write is added */
    bool paused;              /* output above max_output_buffer: requests not parsed */
    bool closing;             /* flush what is pending, then close */
    /* Deferred replies, oldest first (conn.c, "Deferred replies in order"). While there are
     * any, handlers write into aout (the newest one's `after`), out.buf is what the socket
     * gets, and only requests that may overtake are parsed; held: parsing waits for all. */
    struct core_defer *dq_head, *dq_tail;
    unsigned ndefers;
    bool held;
    struct core_out aout;
    /* A descriptor to send with a reply's first byte (core_out_attach_fd): fd_at bytes of
     * fd_buf precede it. fd_buf is out.buf, or a deferred reply's buffer (reply or after)
     * until _defers_out moves it into out.buf. fd -1: none pending. */
    int fd_send;
    struct evbuffer *fd_buf;
    size_t fd_at;
};

/* Called by a worker for each connection handed to it; takes ownership of fd (closed on
 * failure: refused by the handler or out of memory). */
void conn_open(struct worker *w, struct event_base *base, int fd, const struct core_peer *peer);
/* Shutdown: stop reading requests; close now if nothing is pending, else after the flush. */
void conn_drain(struct conn *c);
/* Close now: pending output is dropped (its release callbacks run). */
void conn_close(struct conn *c);

/* worker.c, on the worker's thread: a connection joined / left the worker's list (on leave,
 * its fd is already closed and the connections gauge decremented). */
void worker_conn_linked(struct worker *w, struct conn *c);
void worker_conn_closed(struct worker *w, struct conn *c);

/* worker.c: count a token taken on this worker, and queue a completed one (any thread). */
void worker_defer_taken(struct worker *w);
void worker_defer_done(struct core_defer *d);
/* conn.c, worker thread: run d's fill for its connection, write every reply now in order,
 * and go on parsing once nothing holds it; frees d when its reply is out. */
void conn_defer_fill(struct conn *c, struct core_defer *d);

/* Write a short reply frame straight to a fresh socket and close it: used by the listener
 * for max_connections (handler->too_many_connections). */
void conn_reject(int fd);

#endif
