/* Connections of the PHP extension: a libcacheclient client plus what makes it safe to keep
 * across requests in a PHP-FPM worker: the persistent pool (keyed by socket, id and
 * timeouts), the dirty flag of a call interrupted mid-reply, fork detection, the namespace
 * currently selected, and the replay-once rule after a lost connection. */
#ifndef PHP_CC_CONN_H
#define PHP_CC_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "cacheclient.h"

typedef struct php_cc_conn {
    cc_client *client;     /* NULL until first use, or after fork */
    char *socket;          /* malloc'd copies that outlive the client */
    char *init_ns;         /* namespace the client was created with */
    int connect_ms;
    int io_ms;
    char ns[CC_MAX_NS_LEN + 1]; /* namespace selected on the client now */
    size_t ns_len;
    unsigned fork_gen;     /* php_cc_fork_gen when client was created */
    struct _zend_string *pkey; /* persistent pool key; NULL for a private connection */
    uint32_t refs;         /* users in this process (objects, streams, sessions) */
    bool in_flight;        /* a call is between its request and its reply */
    uint64_t last_request; /* CCG(request_no) of the last use */
} php_cc_conn;

/* Incremented in every child after fork() (pthread_atfork). */
extern volatile unsigned php_cc_fork_gen;

void php_cc_conn_minit(void);
void php_cc_conn_mshutdown(void);
/* At request end: drop connections left dirty by a bailout. */
void php_cc_conn_rshutdown(void);

/* A connection to socket. persistent_id NULL: private (freed by the last release);
 * otherwise shared from the pool under (socket, id, timeouts). Never fails; connects on
 * first use. */
php_cc_conn *php_cc_conn_acquire(const char *socket, int connect_ms, int io_ms,
                                 const char *ns, size_t ns_len, const char *persistent_id,
                                 size_t persistent_id_len);
/* Drop one reference; a private connection is closed and freed with the last. *conn = NULL. */
void php_cc_conn_release(php_cc_conn **conn);

/* Make conn ready for one call in namespace ns: recreate the client after a fork or a
 * bailout, select the namespace, and (for a call that must not be replayed on a connection
 * reused from an earlier request) check that the server is still there. Returns the client
 * with conn->in_flight set, or NULL with an exception pending. Pair with php_cc_conn_end. */
cc_client *php_cc_conn_begin(php_cc_conn *conn, const char *ns, size_t ns_len, bool replayable);

static inline void php_cc_conn_end(php_cc_conn *conn) { conn->in_flight = false; }

/* The shared-memory read counts of conn's client (cc_shm_stats), without any I/O: zeros and
 * mapped = false when it has no client of this process yet (never used, or used only by the
 * parent of a fork). */
void php_cc_conn_shm_stats(const php_cc_conn *conn, cc_shm_info *out);

/* Close the socket now; the next call reconnects. */
void php_cc_conn_close(php_cc_conn *conn);

/* Run call (an expression returning a cc_status) on the connection's client. A call that is
 * safe to replay is sent once more when the first try lost the connection (server restart);
 * libcacheclient reconnects and reselects the namespace on that second call. st receives the
 * final status. The caller has already called php_cc_conn_begin. */
#define PHP_CC_RUN(st, replayable, call)               \
    do {                                               \
        (st) = (call);                                 \
        if ((st) == CC_E_IO && (replayable))           \
            (st) = (call);                             \
    } while (0)

#endif
