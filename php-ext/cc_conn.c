/* Connection lifecycle for the PHP extension: the per-process persistent pool, fork
 * detection, dirty connections and the server-still-there check. See cc_conn.h. */
#include "php_cacheclient.h"

#include <pthread.h>
#include <string.h>

volatile unsigned php_cc_fork_gen;

/* The persistent pool of this worker process: pool key -> php_cc_conn*. The extension's
 * persistent connections are per process (PHP-FPM workers are processes); a ZTS build gets
 * private connections only (see php_cc_conn_acquire). */
static HashTable _pool;
static bool _pool_ready;

static void _atfork_child(void) { php_cc_fork_gen++; }

/* Forget the client without any I/O: after a fork the socket belongs to the parent too, and
 * cc_client_destroy only close()s our copy of the descriptor. */
static void _client_drop(php_cc_conn *conn)
{
    if (conn->client)
        cc_client_destroy(&conn->client);
    conn->client = NULL;
    conn->in_flight = false;
}

static void _conn_free(php_cc_conn *conn)
{
    _client_drop(conn);
    free(conn->socket);
    free(conn->init_ns);
    if (conn->pkey)
        zend_string_release_ex(conn->pkey, 1);
    free(conn);
}

static void _pool_dtor(zval *zv) { _conn_free((php_cc_conn *)Z_PTR_P(zv)); }

void php_cc_conn_minit(void)
{
    zend_hash_init(&_pool, 8, NULL, _pool_dtor, 1);
    _pool_ready = true;
    pthread_atfork(NULL, NULL, _atfork_child);
}

void php_cc_conn_mshutdown(void)
{
    if (_pool_ready) {
        zend_hash_destroy(&_pool);
        _pool_ready = false;
    }
}

void php_cc_conn_rshutdown(void)
{
    php_cc_conn *conn;
    if (!_pool_ready)
        return;
    ZEND_HASH_MAP_FOREACH_PTR(&_pool, conn) {
        if (conn->in_flight && conn->client) {
            /* Interrupted between request and reply (fatal error): the reply may still
             * arrive, so this socket must never carry another request. */
            cc_disconnect(conn->client);
        }
        conn->in_flight = false;
        conn->refs = 0; /* objects of this request are gone */
    } ZEND_HASH_FOREACH_END();
}

static php_cc_conn *_conn_new(const char *socket, int connect_ms, int io_ms, const char *ns,
                              size_t ns_len)
{
    php_cc_conn *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return NULL;
    conn->socket = strdup(socket);
    conn->init_ns = malloc(ns_len + 1);
    if (!conn->socket || !conn->init_ns) {
        free(conn->socket);
        free(conn->init_ns);
        free(conn);
        return NULL;
    }
    memcpy(conn->init_ns, ns, ns_len);
    conn->init_ns[ns_len] = '\0';
    conn->connect_ms = connect_ms;
    conn->io_ms = io_ms;
    conn->fork_gen = php_cc_fork_gen;
    return conn;
}

php_cc_conn *php_cc_conn_acquire(const char *socket, int connect_ms, int io_ms, const char *ns,
                                 size_t ns_len, const char *persistent_id,
                                 size_t persistent_id_len)
{
    php_cc_conn *conn;
#ifdef ZTS
    persistent_id = NULL; /* the pool is per process; threads would share sockets */
#endif
    if (!persistent_id) {
        conn = _conn_new(socket, connect_ms, io_ms, ns, ns_len);
        if (!conn)
            zend_error_noreturn(E_ERROR, "cacheclient: out of memory");
        conn->refs = 1;
        return conn;
    }

    /* Pool key: socket, id and both timeouts (a connection's timeouts are fixed). */
    smart_str k = {0};
    smart_str_appends(&k, socket);
    smart_str_appendc(&k, '\0');
    smart_str_appendl(&k, persistent_id, persistent_id_len);
    smart_str_appendc(&k, '\0');
    smart_str_append_long(&k, connect_ms);
    smart_str_appendc(&k, '/');
    smart_str_append_long(&k, io_ms);
    smart_str_0(&k);

    conn = zend_hash_str_find_ptr(&_pool, ZSTR_VAL(k.s), ZSTR_LEN(k.s));
    if (!conn) {
        conn = _conn_new(socket, connect_ms, io_ms, ns, ns_len);
        if (!conn)
            zend_error_noreturn(E_ERROR, "cacheclient: out of memory");
        conn->pkey = zend_string_init(ZSTR_VAL(k.s), ZSTR_LEN(k.s), 1);
        zend_hash_update_ptr(&_pool, conn->pkey, conn);
    }
    smart_str_free(&k);
    conn->refs++;
    return conn;
}

void php_cc_conn_release(php_cc_conn **connp)
{
    php_cc_conn *conn = *connp;
    *connp = NULL;
    if (!conn)
        return;
    if (conn->refs > 0)
        conn->refs--;
    if (!conn->pkey && conn->refs == 0)
        _conn_free(conn);
}

void php_cc_conn_close(php_cc_conn *conn)
{
    if (conn->client)
        cc_disconnect(conn->client);
    conn->in_flight = false;
}

void php_cc_conn_shm_stats(const php_cc_conn *conn, cc_shm_info *out)
{
    memset(out, 0, sizeof(*out));
    if (conn->client && conn->fork_gen == php_cc_fork_gen)
        cc_shm_stats(conn->client, out);
}

static bool _conn_create_client(php_cc_conn *conn)
{
    cc_options opts;
    cc_options_init(&opts);
    opts.socket_path = conn->socket;
    opts.connect_timeout_ms = conn->connect_ms;
    opts.io_timeout_ms = conn->io_ms;
    opts.ns = conn->init_ns[0] ? conn->init_ns : NULL;
    opts.client_name = "php-cacheclient";
    opts.shm_reads = CCG(shm_reads) ? 1 : 0; /* docs/shm-reads.md */
    conn->client = cc_client_create(&opts);
    if (!conn->client)
        return false;
    size_t n = strlen(conn->init_ns);
    memcpy(conn->ns, conn->init_ns, n + 1);
    conn->ns_len = n;
    conn->fork_gen = php_cc_fork_gen;
    return true;
}

cc_client *php_cc_conn_begin(php_cc_conn *conn, const char *ns, size_t ns_len, bool replayable)
{
    int st;
    if (UNEXPECTED(conn->fork_gen != php_cc_fork_gen)) {
        /* Created by a parent process: never touch its socket from the child. */
        _client_drop(conn);
        conn->fork_gen = php_cc_fork_gen;
    }
    if (UNEXPECTED(conn->in_flight)) {
        /* A previous call never finished (bailout mid-reply): the socket is dirty. */
        if (conn->client)
            cc_disconnect(conn->client);
        conn->in_flight = false;
    }
    if (UNEXPECTED(!conn->client) && !_conn_create_client(conn)) {
        php_cc_throw_status(CC_E_CLIENT_NOMEM, NULL);
        return NULL;
    }
    cc_client *c = conn->client;
    conn->in_flight = true;

    if (UNEXPECTED(ns_len != conn->ns_len || memcmp(ns, conn->ns, ns_len) != 0)) {
        /* NAMESPACE is idempotent: replay it after a lost connection. */
        PHP_CC_RUN(st, true, cc_select_ns(c, ns));
        if (st != CC_OK) {
            php_cc_throw_conn(conn, st);
            conn->in_flight = false;
            return NULL;
        }
        memcpy(conn->ns, ns, ns_len);
        conn->ns[ns_len] = '\0';
        conn->ns_len = ns_len;
    }

    if (!replayable && conn->pkey && conn->last_request != CCG(request_no)) {
        /* First use of a pooled connection in this request, for a call we would never
         * replay (INCR, APPEND, NX, CAS): make sure the server did not restart since the
         * last request, so that the call itself is not the one to find the socket dead. */
        PHP_CC_RUN(st, true, cc_ping(c));
        if (st != CC_OK) {
            php_cc_throw_conn(conn, st);
            conn->in_flight = false;
            return NULL;
        }
    }
    conn->last_request = CCG(request_no);
    return c;
}
