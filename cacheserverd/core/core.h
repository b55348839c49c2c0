/* core: the listening Unix socket, the worker threads (one libevent loop each) and the
 * connections. It cuts each connection's byte stream into frames (docs/protocol.md) and hands
 * every frame body to a core_handler (handler.h); it never knows an opcode.
 *
 * Lifecycle, all on the main thread:
 *   core_options_register()   before the config file and command line are read
 *   core_setup(handler)       raise RLIMIT_NOFILE, bind the socket, start the workers
 *   core_run()                accept and serve until SIGTERM/SIGINT (or core_stop), then stop
 *                             accepting, remove the socket, let workers flush replies already
 *                             produced (at most shutdown_timeout_ms), close every connection
 *                             and join the workers; returns 0
 *   core_teardown()           free what core_setup made
 *
 * Thread safety:
 *   - core_setup, core_run and core_teardown run on one thread (the main one); core_run owns
 *     SIGTERM, SIGINT and SIGHUP (SIGHUP = log_reopen) through that thread's event loop.
 *     SIGPIPE is ignored from core_setup on; SIGTERM, SIGINT and SIGHUP stay ignored after
 *     core_teardown (a repeated signal during shutdown must not kill the process half-way).
 *   - Each connection lives on exactly one worker thread for its whole life: session_open,
 *     frame, frame_too_large, session_close and every core_out call for it run there, never
 *     concurrently for the same session. Different sessions run concurrently on different
 *     workers, so a handler's shared state needs its own locking.
 *   - core_out_add/core_out_add_ref may only be called from inside a handler callback, with
 *     the core_out it was given. A release callback runs on the connection's worker thread.
 *   - too_many_connections runs on the main thread (the accepting one).
 *   - core_stop is safe from any thread (it is not async-signal-safe).
 *   - Stats are relaxed atomics (stats.h); OPT_RUNTIME options are re-read on every use. */
#ifndef CORE_CORE_H
#define CORE_CORE_H

#include <stdint.h>

#include "cacheclient_protocol.h" /* CC_DEFAULT_SOCKET */
#include "handler.h"
#include "option.h"
#include "stats.h"

#define CORE_OPTIONS(ACTION)                                                                   \
    ACTION(socket, OPT_STR, CC_DEFAULT_SOCKET, OPT_STARTUP,                                    \
           "Unix socket path to listen on (its directory is created if missing)")             \
    ACTION(socket_mode, OPT_STR, "0660", OPT_STARTUP,                                          \
           "permissions of the socket file, octal")                                           \
    ACTION(socket_group, OPT_STR, "", OPT_STARTUP,                                             \
           "group (name or gid) given to the socket file; empty = the server's group")        \
    ACTION(allow_uids, OPT_STR, "", OPT_STARTUP,                                               \
           "comma-separated users (names or uids) allowed to connect; see allow-gids")        \
    ACTION(allow_gids, OPT_STR, "", OPT_STARTUP,                                               \
           "comma-separated groups (names or gids) allowed to connect; when either list is "  \
           "set, a peer must match one of them")                                              \
    ACTION(threads, OPT_UINT, "0", OPT_STARTUP,                                                \
           "worker threads; 0 = number of online cores")                                      \
    ACTION(max_connections, OPT_UINT, "10000", OPT_RUNTIME,                                    \
           "open connections allowed; one more is answered E_LIMIT and closed")               \
    ACTION(max_frame_size, OPT_SIZE, "80MiB", OPT_STARTUP,                                     \
           "longest request frame; a longer one is answered E_FRAME_TOO_LARGE and closed")    \
    ACTION(max_output_buffer, OPT_SIZE, "16MiB", OPT_RUNTIME,                                  \
           "pending reply bytes above which a connection's requests stop being read")         \
    ACTION(output_timeout_ms, OPT_UINT, "30000", OPT_RUNTIME,                                  \
           "close a connection whose replies made no progress for this long while above "     \
           "max-output-buffer; 0 = never")                                                    \
    ACTION(shutdown_timeout_ms, OPT_UINT, "5000", OPT_RUNTIME,                                 \
           "on SIGTERM, how long connections may take to receive replies already produced")   \
    ACTION(log_file, OPT_STR, "", OPT_STARTUP,                                                 \
           "log file (reopened on SIGHUP); empty = stderr")                                   \
    ACTION(log_level, OPT_STR, "info", OPT_STARTUP, "error, warn, info or debug")              \
    ACTION(data_dir, OPT_STR, "./run/data", OPT_STARTUP,                                       \
           "directory for persistent data (created if missing)")

#define CORE_STATS(ACTION)                                                                     \
    ACTION(connections, STAT_GAUGE, "open client connections")                                 \
    ACTION(connections_total, STAT_COUNTER, "connections accepted since start")                \
    ACTION(connections_refused, STAT_COUNTER, "peers refused by allow-uids/allow-gids")        \
    ACTION(connections_rejected, STAT_COUNTER, "connections refused over max-connections")     \
    ACTION(connections_dropped_slow, STAT_COUNTER,                                             \
           "connections closed: replies stalled above max-output-buffer")                     \
    ACTION(frames_too_large, STAT_COUNTER, "frames refused: longer than max-frame-size")       \
    ACTION(bytes_read, STAT_COUNTER, "bytes read from clients")                                \
    ACTION(bytes_written, STAT_COUNTER, "bytes written to clients")                         \
    ACTION(fds_dropped, STAT_COUNTER,                                                          \
           "descriptors not sent with a reply: one was already pending, or sendmsg refused it")

/* Register core's option table (and its validation hooks) in the option registry. */
void core_options_register(void);
/* Bind the socket and start the workers; `h` must outlive core_teardown. Reads core's
 * options (defaults if core_options_register was not called). Returns 0, or -1 after
 * logging why (another live server on the path, bad permissions...). */
int core_setup(const struct core_handler *h);
/* Serve until a stop is requested; returns 0 once every connection is closed and every
 * worker joined. */
int core_run(void);
/* Ask core_run to stop as on SIGTERM. Any thread; not from a signal handler. */
void core_stop(void);
void core_teardown(void);

/* Number of worker threads core_setup started (0 before). */
unsigned core_threads(void);

#endif
