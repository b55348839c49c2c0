/* The cacheclient PHP extension: module globals, the CacheClient object and the pieces
 * shared by its files (methods, key iterator, stream wrapper, session handler). The wire
 * protocol itself is libcacheclient's; this extension only maps PHP values and errors. */
#ifndef PHP_CACHECLIENT_H
#define PHP_CACHECLIENT_H

#include "php.h"
#include "cacheclient.h"

#include "cc_codec.h"
#include "cc_conn.h"

#define PHP_CACHECLIENT_VERSION "0.1.0"

extern zend_module_entry cacheclient_module_entry;
#define phpext_cacheclient_ptr &cacheclient_module_entry

ZEND_BEGIN_MODULE_GLOBALS(cacheclient)
    char *socket;              /* cacheclient.socket */
    double connect_timeout;    /* cacheclient.connect_timeout, seconds */
    double read_timeout;       /* cacheclient.read_timeout, seconds */
    char *serializer;          /* cacheclient.serializer: "php", "igbinary" or "msgpack" */
    zend_long compression_level; /* cacheclient.compression_level: zstd level 1..19 */
    bool session_locking;      /* cacheclient.session_locking */
    double session_lock_wait;  /* cacheclient.session_lock_wait, seconds */
    zend_long session_lock_expire; /* cacheclient.session_lock_expire, seconds (0 = auto) */
    bool shm_reads;            /* cacheclient.shm_reads: read the server's shared-memory region */
    uint64_t request_no;       /* bumped at every RINIT: "first use in this request" */
ZEND_END_MODULE_GLOBALS(cacheclient)

ZEND_EXTERN_MODULE_GLOBALS(cacheclient)
#define CCG(v) ZEND_MODULE_GLOBALS_ACCESSOR(cacheclient, v)

/* What a CacheClient, the session handler and the stream wrapper each need: a connection,
 * the key prefix, the server namespace and the value codec options. */
typedef struct php_cc_core {
    php_cc_conn *conn;
    zend_string *prefix; /* NULL when there is none */
    zend_string *ns;     /* never NULL; "" = the default namespace */
    php_cc_codec codec;
} php_cc_core;

typedef struct php_cc_client {
    php_cc_core core;
    bool initialized; /* __construct completed */
    zend_object std;
} php_cc_client;

static inline php_cc_client *php_cc_client_from_obj(zend_object *obj)
{
    return (php_cc_client *)((char *)obj - XtOffsetOf(php_cc_client, std));
}
#define Z_CC_CLIENT_P(zv) php_cc_client_from_obj(Z_OBJ_P(zv))

extern zend_class_entry *php_cc_client_ce;
extern zend_class_entry *php_cc_keyiter_ce;
extern zend_class_entry *php_cc_pipeline_ce;
extern zend_class_entry *php_cc_exception_ce;
extern zend_class_entry *php_cc_connection_exception_ce;
extern zend_class_entry *php_cc_timeout_exception_ce;
extern zend_class_entry *php_cc_protocol_exception_ce;
extern zend_class_entry *php_cc_server_exception_ce;
extern zend_class_entry *php_cc_serialization_exception_ce;

/* Parse (socket, options) into core, connecting lazily. On failure a ValueError/TypeError or
 * CacheClientException is pending and core holds nothing. ctx names the caller in messages. */
zend_result php_cc_core_init(php_cc_core *core, zend_string *socket, HashTable *options,
                             const char *ctx);
void php_cc_core_deinit(php_cc_core *core);

/* Throw the exception class matching status (a cc_status error), with message msg
 * (NULL = the protocol table's default message). */
void php_cc_throw_status(int status, const char *msg);
/* Same, taking the message from the client of conn. */
void php_cc_throw_conn(php_cc_conn *conn, int status);

/* If the pending exception is a CacheClientException, replace it by an E_WARNING
 * "what: message" (file-like APIs: stream wrapper, session handler). */
bool php_cc_exception_to_warning(const char *what);

/* A key with the core's prefix prepended; short keys stay on the stack. */
typedef struct php_cc_key {
    const char *p;
    size_t len;
    char *heap;
    char stack[240];
} php_cc_key;

/* Build k from core's prefix and key; ValueError on an empty key. */
zend_result php_cc_key_make(php_cc_key *k, const php_cc_core *core, const char *key, size_t len);
static inline void php_cc_key_free(php_cc_key *k)
{
    if (k->heap) {
        efree(k->heap);
        k->heap = NULL;
    }
}

/* Longest TTL taken as relative seconds: 30 days, memcached's rule. A larger one is an
 * absolute Unix time. */
#define PHP_CC_TTL_RELATIVE_MAX 2592000

/* A PHP TTL (int or float seconds) to protocol milliseconds (0 = no expiry). Up to 30 days
 * it is relative; above, an absolute Unix time (memcached's rule), at most 100 years ahead.
 * A positive TTL under 1 ms becomes 1 ms, never 0. An absolute time not in the future sets
 * *past (when past is not NULL: the caller turns the write into a delete) and *ms = 1 (the
 * shortest TTL: the write expires at once). ValueError when negative, not finite or too
 * far ahead; arg_num 0 names no argument ("ttl ..."). */
zend_result php_cc_ttl_ms(zval *ttl, uint32_t arg_num, uint64_t *ms, bool *past);

/* Class registration of the methods file, the key iterator, the stream wrapper, sessions. */
void php_cc_methods_minit(void);
void php_cc_keyiter_minit(void);
void php_cc_pipeline_minit(void);
zend_result php_cc_stream_minit(int module_number);
void php_cc_stream_mshutdown(int module_number);
zend_result php_cc_session_minit(void);
void php_cc_session_rshutdown(void);

/* Make the key iterator of CacheClient::keys(): client is the CacheClient object. */
void php_cc_keyiter_create(zval *out, zval *client, zend_string *prefix);

#endif
