/* The seam between core (sockets, framing, event loops) and whatever answers requests.
 * core never knows an opcode: it cuts the byte stream into frames and hands each frame
 * body to a core_handler; the handler writes whole reply frames to a core_out.
 * The binary (cacheserverd/main.c) wires cmd's handler into core. */
#ifndef CORE_HANDLER_H
#define CORE_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where a handler writes replies: the connection's output buffer. Opaque to handlers. */
struct core_out;

/* Append bytes (copied). */
void core_out_add(struct core_out *o, const void *data, size_t len);
/* Append bytes without copying: `release(arg)` is called once the bytes are written to the
 * socket or the connection is closed. The bytes must stay valid and unchanged until then. */
void core_out_add_ref(struct core_out *o, const void *data, size_t len,
                      void (*release)(void *arg), void *arg);

/* Send descriptor fd (SCM_RIGHTS) with the first byte of the reply written into o next:
 * call it before writing that reply. The kernel keeps the fd with that byte, so the peer
 * receives it with the reply whatever comes before or after (deferred replies included).
 * core does not own fd: it must stay open until the connection is closed or the store's
 * teardown (a shared, long-lived descriptor). One fd may be pending per connection: false
 * (nothing attached, counted in fds_dropped) when one is already waiting, or o is not a
 * connection's. A send the kernel refuses drops the fd, the bytes still go (fds_dropped). */
bool core_out_attach_fd(struct core_out *o, int fd);

/* Who is on the other end (from SO_PEERCRED). */
struct core_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    uint64_t conn_id; /* unique per server run */
};

enum core_verdict {
    CORE_CONTINUE = 0, /* keep reading requests */
    CORE_CLOSE = 1,    /* flush what was written, then close the connection */
    CORE_PENDING = 2,  /* the reply comes later through the core_defer taken for this frame */
};

/* Deferred replies, for a request that must wait (a disk read on an I/O thread). In frame(),
 * take a token with core_defer_begin and return CORE_PENDING; write nothing for that frame.
 * Replies always go out in request order. Behind a deferred request the connection parses
 * only requests the handler calls reorderable, and only while every deferred one is
 * reorderable too (at most CORE_MAX_DEFERS of them); any other request waits until every
 * reply before it is written. Other connections on the worker go on. A fill may begin a new
 * defer (the request runs again and must wait again): its reply takes the place of the
 * filled one. Later, from any thread, call
 * core_defer_complete: `fill` then runs on the connection's worker thread with the
 * connection's output, to write the reply frame, or with out == NULL when the connection
 * closed meanwhile (free what arg holds). Shutdown waits for every pending token. */
struct core_defer;
#define CORE_MAX_DEFERS 64 /* deferred replies a connection may wait for at once */
/* NULL when out of memory (answer now instead). Only inside frame() or a fill, once. */
struct core_defer *core_defer_begin(struct core_out *o);
void core_defer_complete(struct core_defer *d, void (*fill)(void *arg, struct core_out *out),
                         void *arg);

struct core_handler {
    void *ctx; /* passed to session_open */
    /* A connection was accepted: return its session state (NULL = refuse and close). */
    void *(*session_open)(void *ctx, const struct core_peer *peer);
    /* The connection is gone; free the session. */
    void (*session_close)(void *session);
    /* One complete frame body (without the 4-byte length). Must write exactly one reply
     * frame for it (length prefix included) to out. Runs on the connection's worker thread. */
    enum core_verdict (*frame)(void *session, const uint8_t *body, size_t len,
                               struct core_out *out);
    /* Optional (NULL = never): true when the request in this complete frame body may run
     * before the deferred requests received ahead of it, and they before it: it changes
     * nothing a request can see (a read), so the order in which they run cannot show. */
    bool (*reorderable)(void *session, const uint8_t *body, size_t len);
    /* The peer announced a frame longer than max_frame_size: write the error reply frame;
     * core then closes the connection. */
    void (*frame_too_large)(void *session, uint64_t len, uint64_t max, struct core_out *out);
    /* Connection refused because max_connections is reached: write the error reply frame
     * (session is NULL); core then closes. */
    void (*too_many_connections)(struct core_out *out);
    /* Optional (NULL = none): called on the main thread when shutdown begins, before the
     * workers drain: answer now the deferred replies that wait on something other than this
     * process's own I/O (WAIT's peers), since the workers wait for every deferred reply. */
    void (*stopping)(void);
    /* Optional (NULL = none): called on each worker thread just before it exits, after its
     * last connection is closed, to free per-thread state. */
    void (*thread_exit)(void);
    /* Optional (NULL = none): called on the worker thread after the replies of a pass over a
     * connection's frames were handed to the socket, for work that must not delay them (the
     * store's publishing to shared memory). Per thread: it knows no connection. */
    void (*after_flush)(void);
    /* Optional (NULL = never wait): called on the main thread when the listener removed a
     * stale socket file (a predecessor that did not shut down cleanly), before listen():
     * how many milliseconds to wait first, with *why set to the reason for the log line
     * (main.c: the shared-memory region's readers, docs/shm-reads.md). */
    uint32_t (*stale_socket_wait_ms)(const char **why);
};

#endif
