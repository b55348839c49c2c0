/* The command layer: decodes request frames, runs one handler per operation (a table from
 * opcode to handler), and encodes replies. It never touches a socket: core hands it frame
 * bodies through the core_handler returned by cmd_handler(). */
#ifndef CMD_H
#define CMD_H

#include <msgpack.h>

#include "handler.h"
#include "option.h"

#define CMD_OPTIONS(ACTION)                                                            \
    ACTION(max_key_size, OPT_SIZE, "8KiB", OPT_RUNTIME, "longest key accepted")       \
    ACTION(fenced_reads, OPT_BOOL, "off", OPT_RUNTIME,                                \
           "while this node is fenced, serve reads from what it holds (off: misses)") \
    ACTION(max_value_size, OPT_SIZE, "64MiB", OPT_RUNTIME,                            \
           "largest value accepted by SET, and largest GET/GETRANGE reply; larger "    \
           "values are built with APPEND")                                            \
    ACTION(max_request_keys, OPT_UINT, "1024", OPT_RUNTIME,                           \
           "most keys one MGET, MSET, DEL or EXISTS may name (E_LIMIT beyond): bounds "  \
           "the time one request holds its worker thread")                              \
    ACTION(metrics_listen, OPT_STR, "", OPT_STARTUP,                                  \
           "HOST:PORT where GET /metrics serves STATS in the Prometheus text format "  \
           "over HTTP; empty = off")

/* Registers the options table (before settings are loaded). */
void cmd_options_register(void);
/* Registers stats; call after the store is set up. Returns 0 or -1. */
int cmd_setup(void);
void cmd_teardown(void);
/* The handler to give core. */
const struct core_handler *cmd_handler(void);
/* The number of worker threads core runs (the `threads` option resolved: 0 = one per core),
 * for INFO. */
void cmd_set_worker_threads(unsigned n);
/* Free the calling worker thread's reply buffer (call as a worker thread exits). */
void cmd_thread_exit(void);
/* The STATS map (a msgpack map) into *out, which it initialises; safe from any thread. */
void cmd_stats_map(msgpack_sbuffer *out);
/* metrics-listen (metrics.c): when set, bind it and serve GET /metrics from a thread of its
 * own (its own event loop: a scrape never delays a client request). 0, or -1 with the reason
 * in why. Call after core_setup (libevent's threading is on). */
int cmd_metrics_start(char *why, size_t len);
/* Stop that thread and close the port (nothing when it was not started). */
void cmd_metrics_stop(void);

#endif
