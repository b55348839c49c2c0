/* The cacheclient extension's module: ini settings, class and exception registration,
 * request hooks, and the option parsing and error mapping shared by its parts. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "php_cacheclient.h"

#include <math.h>
#include <time.h>

#include "ext/standard/info.h"
#include "ext/spl/spl_exceptions.h"
#include "zend_exceptions.h"
#include "zend_interfaces.h"

#include "cacheclient_arginfo.h"

ZEND_DECLARE_MODULE_GLOBALS(cacheclient)

zend_class_entry *php_cc_client_ce;
zend_class_entry *php_cc_keyiter_ce;
zend_class_entry *php_cc_exception_ce;
zend_class_entry *php_cc_connection_exception_ce;
zend_class_entry *php_cc_timeout_exception_ce;
zend_class_entry *php_cc_protocol_exception_ce;
zend_class_entry *php_cc_server_exception_ce;
zend_class_entry *php_cc_serialization_exception_ce;

/* Longest Unix socket path (sun_path holds 108 bytes with its NUL). */
#define PHP_CC_MAX_SOCKET_PATH 107

PHP_INI_BEGIN()
    STD_PHP_INI_ENTRY("cacheclient.socket", CC_DEFAULT_SOCKET, PHP_INI_ALL,
                      OnUpdateString, socket, zend_cacheclient_globals, cacheclient_globals)
    STD_PHP_INI_ENTRY("cacheclient.connect_timeout", "0.5", PHP_INI_ALL, OnUpdateReal,
                      connect_timeout, zend_cacheclient_globals, cacheclient_globals)
    STD_PHP_INI_ENTRY("cacheclient.read_timeout", "2", PHP_INI_ALL, OnUpdateReal, read_timeout,
                      zend_cacheclient_globals, cacheclient_globals)
    STD_PHP_INI_ENTRY("cacheclient.serializer", "php", PHP_INI_ALL, OnUpdateString, serializer,
                      zend_cacheclient_globals, cacheclient_globals)
    STD_PHP_INI_ENTRY("cacheclient.compression_level", "3", PHP_INI_ALL, OnUpdateLong,
                      compression_level, zend_cacheclient_globals, cacheclient_globals)
    STD_PHP_INI_BOOLEAN("cacheclient.session_locking", "1", PHP_INI_ALL, OnUpdateBool,
                        session_locking, zend_cacheclient_globals, cacheclient_globals)
    STD_PHP_INI_ENTRY("cacheclient.session_lock_wait", "10", PHP_INI_ALL, OnUpdateReal,
                      session_lock_wait, zend_cacheclient_globals, cacheclient_globals)
    STD_PHP_INI_ENTRY("cacheclient.session_lock_expire", "0", PHP_INI_ALL, OnUpdateLong,
                      session_lock_expire, zend_cacheclient_globals, cacheclient_globals)
    /* PHP_INI_SYSTEM: a persistent connection's client outlives the request that made it. */
    STD_PHP_INI_BOOLEAN("cacheclient.shm_reads", "1", PHP_INI_SYSTEM, OnUpdateBool, shm_reads,
                        zend_cacheclient_globals, cacheclient_globals)
PHP_INI_END()

/* ---- errors ---- */

void php_cc_throw_status(int status, const char *msg)
{
    zend_class_entry *ce;
    if (!msg || !*msg)
        msg = cc_status_message(status);
    switch (status) {
    case CC_E_CONNECT:
    case CC_E_IO:
    case CC_E_SHUTDOWN:
        ce = php_cc_connection_exception_ce;
        break;
    case CC_E_TIMEOUT:
        ce = php_cc_timeout_exception_ce;
        break;
    case CC_E_PROTOCOL:
    case CC_E_UNKNOWN_OP:
    case CC_E_BAD_ARGS:
    case CC_E_VERSION:
    case CC_E_BAD_REPLY:
        ce = php_cc_protocol_exception_ce;
        break;
    case CC_E_CLIENT_ARGS:
        zend_value_error("CacheClient: %s", msg);
        return;
    case CC_E_CLIENT_NOMEM:
        ce = php_cc_exception_ce;
        break;
    default:
        ce = cc_status_is_error(status) ? php_cc_server_exception_ce : php_cc_protocol_exception_ce;
        break;
    }
    zend_throw_exception_ex(ce, status, "%s: %s", cc_status_name(status), msg);
}

void php_cc_throw_conn(php_cc_conn *conn, int status)
{
    const char *msg = conn && conn->client ? cc_errmsg(conn->client) : NULL;
    php_cc_throw_status(status, msg);
}

bool php_cc_exception_to_warning(const char *what)
{
    zend_object *ex = EG(exception);
    if (!ex || !instanceof_function(ex->ce, php_cc_exception_ce))
        return false;
    zval rv, *msg;
    msg = zend_read_property_ex(zend_ce_exception, ex, ZSTR_KNOWN(ZEND_STR_MESSAGE), 1, &rv);
    zend_string *m = zval_get_string(msg);
    zend_clear_exception();
    php_error_docref(NULL, E_WARNING, "%s: %s", what, ZSTR_VAL(m));
    zend_string_release(m);
    return true;
}

/* ---- keys and ttls ---- */

zend_result php_cc_key_make(php_cc_key *k, const php_cc_core *core, const char *key, size_t len)
{
    k->heap = NULL;
    if (UNEXPECTED(len == 0)) {
        zend_argument_value_error(1, "must not be empty");
        return FAILURE;
    }
    if (!core->prefix) {
        k->p = key;
        k->len = len;
        return SUCCESS;
    }
    size_t plen = ZSTR_LEN(core->prefix);
    char *buf = plen + len <= sizeof(k->stack) ? k->stack : (k->heap = emalloc(plen + len));
    memcpy(buf, ZSTR_VAL(core->prefix), plen);
    memcpy(buf + plen, key, len);
    k->p = buf;
    k->len = plen + len;
    return SUCCESS;
}

static void _ttl_error(uint32_t arg_num, const char *msg)
{
    if (arg_num)
        zend_argument_value_error(arg_num, "%s", msg);
    else
        zend_value_error("ttl %s", msg);
}

#define PHP_CC_TTL_RANGE_MSG                                                                  \
    "must be a number of seconds 0..2592000 (30 days), or a Unix time (seconds) at most 100 " \
    "years ahead"

zend_result php_cc_ttl_ms(zval *ttl, uint32_t arg_num, uint64_t *ms, bool *past)
{
    double d;
    bool is_long = Z_TYPE_P(ttl) == IS_LONG;
    if (past)
        *past = false;
    if (is_long) {
        if (Z_LVAL_P(ttl) < 0) {
            _ttl_error(arg_num, "must be a finite number of seconds >= 0");
            return FAILURE;
        }
        d = (double)Z_LVAL_P(ttl);
    } else {
        d = Z_DVAL_P(ttl);
        if (!zend_finite(d) || d < 0) {
            _ttl_error(arg_num, "must be a finite number of seconds >= 0");
            return FAILURE;
        }
    }
    if (d <= (double)PHP_CC_TTL_RELATIVE_MAX) {
        /* relative seconds */
        uint64_t v = is_long ? (uint64_t)Z_LVAL_P(ttl) * 1000 : (uint64_t)ceil(d * 1000.0);
        if (v == 0 && d > 0)
            v = 1; /* a tiny positive TTL is not "no expiry" */
        *ms = v;
        return SUCCESS;
    }
    /* Above 30 days: an absolute Unix time, as memcached takes it. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (d > (double)(now_ms / 1000) + (double)(CC_TTL_MAX_MS / 1000)) {
        _ttl_error(arg_num, PHP_CC_TTL_RANGE_MSG);
        return FAILURE;
    }
    int64_t at_ms = is_long ? (int64_t)Z_LVAL_P(ttl) * 1000 : (int64_t)ceil(d * 1000.0);
    if (at_ms <= now_ms) {
        /* Already past: the write expires at once. Callers that can make it a delete do
         * (past != NULL); the others write with the shortest TTL, 1 ms. */
        if (past)
            *past = true;
        *ms = 1;
        return SUCCESS;
    }
    *ms = (uint64_t)(at_ms - now_ms);
    if (*ms > CC_TTL_MAX_MS)
        *ms = CC_TTL_MAX_MS;
    return SUCCESS;
}

/* ---- options ---- */

static zend_result _timeout_ms(zval *v, const char *name, int *out)
{
    double d;
    ZVAL_DEREF(v);
    if (Z_TYPE_P(v) == IS_LONG)
        d = (double)Z_LVAL_P(v);
    else if (Z_TYPE_P(v) == IS_DOUBLE)
        d = Z_DVAL_P(v);
    else {
        zend_type_error("CacheClient: option \"%s\" must be of type int|float, %s given", name,
                        zend_zval_type_name(v));
        return FAILURE;
    }
    if (!zend_finite(d) || d <= 0 || d > 86400) {
        zend_value_error("CacheClient: option \"%s\" must be a finite number of seconds in "
                         "(0, 86400]", name);
        return FAILURE;
    }
    double ms = ceil(d * 1000.0);
    *out = ms < 1 ? 1 : (int)ms;
    return SUCCESS;
}

static zend_result _seconds_to_ms(double s, const char *name, int *out)
{
    zval tmp;
    ZVAL_DOUBLE(&tmp, s);
    return _timeout_ms(&tmp, name, out);
}

static zend_result _serializer_id(const char *name, size_t len, uint8_t *out)
{
    if (len == 3 && memcmp(name, "php", 3) == 0) {
        *out = PHP_CC_SER_PHP;
        return SUCCESS;
    }
    if (len == 8 && memcmp(name, "igbinary", 8) == 0) {
        if (!php_cc_igbinary_available()) {
            zend_value_error("CacheClient: serializer \"igbinary\" needs the igbinary extension");
            return FAILURE;
        }
        *out = PHP_CC_SER_IGBINARY;
        return SUCCESS;
    }
    if (len == 7 && memcmp(name, "msgpack", 7) == 0) {
        *out = PHP_CC_SER_MSGPACK;
        return SUCCESS;
    }
    zend_value_error("CacheClient: serializer must be \"php\", \"igbinary\" or \"msgpack\", "
                     "\"%s\" given", name);
    return FAILURE;
}

static zend_result _string_opt(zval *v, const char *name, zend_string **out)
{
    ZVAL_DEREF(v);
    if (Z_TYPE_P(v) != IS_STRING) {
        zend_type_error("CacheClient: option \"%s\" must be of type string, %s given", name,
                        zend_zval_type_name(v));
        return FAILURE;
    }
    *out = Z_STR_P(v);
    return SUCCESS;
}

zend_result php_cc_core_init(php_cc_core *core, zend_string *socket, HashTable *options,
                             const char *ctx)
{
    int connect_ms, io_ms;
    zend_string *persistent_id = NULL;
    bool persistent = false;
    zend_string *ns = NULL, *prefix = NULL;
    uint8_t serializer;
    zend_long threshold = 0;
    zend_long level = CCG(compression_level);
    zval *allowed = NULL;
    const char *sock = socket ? ZSTR_VAL(socket) : CCG(socket);
    size_t sock_len = socket ? ZSTR_LEN(socket) : (sock ? strlen(sock) : 0);

    memset(core, 0, sizeof(*core));
    if (sock_len == 0 || sock_len > PHP_CC_MAX_SOCKET_PATH || memchr(sock, '\0', sock_len)) {
        zend_value_error("%s: the socket path must be 1 to %d bytes without NUL, \"%s\" given",
                         ctx, PHP_CC_MAX_SOCKET_PATH, sock ? sock : "");
        return FAILURE;
    }
    if (_seconds_to_ms(CCG(connect_timeout), "cacheclient.connect_timeout", &connect_ms) == FAILURE ||
        _seconds_to_ms(CCG(read_timeout), "cacheclient.read_timeout", &io_ms) == FAILURE)
        return FAILURE;
    const char *ser_ini = CCG(serializer) ? CCG(serializer) : "php";
    if (_serializer_id(ser_ini, strlen(ser_ini), &serializer) == FAILURE)
        return FAILURE;
    if (level < PHP_CC_ZSTD_LEVEL_MIN || level > PHP_CC_ZSTD_LEVEL_MAX) {
        zend_value_error("%s: cacheclient.compression_level must be %d..%d, " ZEND_LONG_FMT
                         " given", ctx, PHP_CC_ZSTD_LEVEL_MIN, PHP_CC_ZSTD_LEVEL_MAX, level);
        return FAILURE;
    }

    if (options) {
        zend_string *name;
        zval *v;
        ZEND_HASH_FOREACH_STR_KEY_VAL(options, name, v) {
            if (!name) {
                zend_value_error("%s: options must be an array of name => value", ctx);
                return FAILURE;
            }
            ZVAL_DEREF(v);
            if (zend_string_equals_literal(name, "persistent")) {
                if (Z_TYPE_P(v) == IS_TRUE || Z_TYPE_P(v) == IS_FALSE) {
                    persistent = Z_TYPE_P(v) == IS_TRUE;
                    persistent_id = NULL;
                } else if (Z_TYPE_P(v) == IS_STRING && Z_STRLEN_P(v) > 0) {
                    persistent = true;
                    persistent_id = Z_STR_P(v);
                } else {
                    zend_type_error("%s: option \"persistent\" must be a bool or a non-empty "
                                    "string id", ctx);
                    return FAILURE;
                }
            } else if (zend_string_equals_literal(name, "connect_timeout")) {
                if (_timeout_ms(v, "connect_timeout", &connect_ms) == FAILURE)
                    return FAILURE;
            } else if (zend_string_equals_literal(name, "read_timeout")) {
                if (_timeout_ms(v, "read_timeout", &io_ms) == FAILURE)
                    return FAILURE;
            } else if (zend_string_equals_literal(name, "namespace")) {
                if (Z_TYPE_P(v) == IS_NULL) {
                    ns = NULL;
                } else {
                    if (_string_opt(v, "namespace", &ns) == FAILURE)
                        return FAILURE;
                    if (ZSTR_LEN(ns) > CC_MAX_NS_LEN || memchr(ZSTR_VAL(ns), '\0', ZSTR_LEN(ns))) {
                        zend_value_error("%s: option \"namespace\" must be at most %d bytes "
                                         "without NUL", ctx, CC_MAX_NS_LEN);
                        return FAILURE;
                    }
                }
            } else if (zend_string_equals_literal(name, "prefix")) {
                if (Z_TYPE_P(v) == IS_NULL)
                    prefix = NULL;
                else if (_string_opt(v, "prefix", &prefix) == FAILURE)
                    return FAILURE;
            } else if (zend_string_equals_literal(name, "serializer")) {
                zend_string *s;
                if (_string_opt(v, "serializer", &s) == FAILURE ||
                    _serializer_id(ZSTR_VAL(s), ZSTR_LEN(s), &serializer) == FAILURE)
                    return FAILURE;
            } else if (zend_string_equals_literal(name, "compression_threshold")) {
                if (Z_TYPE_P(v) != IS_LONG || Z_LVAL_P(v) < 0) {
                    zend_value_error("%s: option \"compression_threshold\" must be an int >= 0 "
                                     "(bytes; 0 = off)", ctx);
                    return FAILURE;
                }
                threshold = Z_LVAL_P(v);
            } else if (zend_string_equals_literal(name, "compression_level")) {
                if (Z_TYPE_P(v) != IS_LONG) {
                    zend_type_error("%s: option \"compression_level\" must be of type int, %s "
                                    "given", ctx, zend_zval_type_name(v));
                    return FAILURE;
                }
                if (Z_LVAL_P(v) < PHP_CC_ZSTD_LEVEL_MIN || Z_LVAL_P(v) > PHP_CC_ZSTD_LEVEL_MAX) {
                    zend_value_error("%s: option \"compression_level\" must be %d..%d (zstd "
                                     "levels), " ZEND_LONG_FMT " given", ctx,
                                     PHP_CC_ZSTD_LEVEL_MIN, PHP_CC_ZSTD_LEVEL_MAX, Z_LVAL_P(v));
                    return FAILURE;
                }
                level = Z_LVAL_P(v);
            } else if (zend_string_equals_literal(name, "allowed_classes")) {
                allowed = v;
            } else {
                zend_value_error("%s: unknown option \"%s\"", ctx, ZSTR_VAL(name));
                return FAILURE;
            }
        } ZEND_HASH_FOREACH_END();
    }

    php_cc_codec_init(&core->codec);
    if (allowed && php_cc_codec_set_allowed_classes(&core->codec, allowed) == FAILURE) {
        php_cc_codec_deinit(&core->codec);
        return FAILURE;
    }
    core->codec.serializer = serializer;
    core->codec.compress_threshold = (size_t)threshold;
    core->codec.compress_level = (int)level;
    core->ns = ns ? zend_string_copy(ns) : ZSTR_EMPTY_ALLOC();
    core->prefix = prefix && ZSTR_LEN(prefix) ? zend_string_copy(prefix) : NULL;
    const char *pid = NULL;
    size_t pid_len = 0;
    if (persistent) {
        pid = persistent_id ? ZSTR_VAL(persistent_id) : "default";
        pid_len = persistent_id ? ZSTR_LEN(persistent_id) : sizeof("default") - 1;
    }
    core->conn = php_cc_conn_acquire(sock, connect_ms, io_ms, ZSTR_VAL(core->ns),
                                     ZSTR_LEN(core->ns), pid, pid_len);
    return SUCCESS;
}

void php_cc_core_deinit(php_cc_core *core)
{
    php_cc_conn_release(&core->conn);
    if (core->prefix) {
        zend_string_release(core->prefix);
        core->prefix = NULL;
    }
    if (core->ns) {
        zend_string_release(core->ns);
        core->ns = NULL;
    }
    php_cc_codec_deinit(&core->codec);
}

/* ---- module ---- */

static PHP_GINIT_FUNCTION(cacheclient)
{
#if defined(COMPILE_DL_CACHECLIENT) && defined(ZTS)
    ZEND_TSRMLS_CACHE_UPDATE();
#endif
    memset(cacheclient_globals, 0, sizeof(*cacheclient_globals));
}

static PHP_MINIT_FUNCTION(cacheclient)
{
    REGISTER_INI_ENTRIES();
    php_cc_exception_ce = register_class_CacheClientException(spl_ce_RuntimeException);
    php_cc_connection_exception_ce = register_class_CacheClientConnectionException(php_cc_exception_ce);
    php_cc_timeout_exception_ce = register_class_CacheClientTimeoutException(php_cc_connection_exception_ce);
    php_cc_protocol_exception_ce = register_class_CacheClientProtocolException(php_cc_exception_ce);
    php_cc_server_exception_ce = register_class_CacheClientServerException(php_cc_exception_ce);
    php_cc_serialization_exception_ce = register_class_CacheClientSerializationException(php_cc_exception_ce);
    php_cc_client_ce = register_class_CacheClient();
    php_cc_keyiter_ce = register_class_CacheClientKeyIterator(zend_ce_iterator);
    php_cc_pipeline_ce = register_class_CacheClientPipeline();
    php_cc_methods_minit();
    php_cc_keyiter_minit();
    php_cc_pipeline_minit();
    php_cc_conn_minit();
    if (php_cc_stream_minit(module_number) == FAILURE)
        return FAILURE;
    return php_cc_session_minit();
}

static PHP_MSHUTDOWN_FUNCTION(cacheclient)
{
    php_cc_stream_mshutdown(module_number);
    php_cc_conn_mshutdown();
    UNREGISTER_INI_ENTRIES();
    return SUCCESS;
}

static PHP_RINIT_FUNCTION(cacheclient)
{
#if defined(COMPILE_DL_CACHECLIENT) && defined(ZTS)
    ZEND_TSRMLS_CACHE_UPDATE();
#endif
    CCG(request_no)++;
    return SUCCESS;
}

static PHP_RSHUTDOWN_FUNCTION(cacheclient)
{
    php_cc_conn_rshutdown();
    return SUCCESS;
}

static ZEND_MODULE_POST_ZEND_DEACTIVATE_D(cacheclient)
{
    /* After every module's RSHUTDOWN (the session module writes and closes there). */
    php_cc_session_rshutdown();
    return SUCCESS;
}

static PHP_MINFO_FUNCTION(cacheclient)
{
    php_info_print_table_start();
    php_info_print_table_header(2, "cacheclient support", "enabled");
    php_info_print_table_row(2, "Version", PHP_CACHECLIENT_VERSION);
    php_info_print_table_row(2, "Protocol version", "1");
    php_info_print_table_row(2, "igbinary serializer", php_cc_igbinary_available() ? "yes" : "no");
    php_info_print_table_row(2, "msgpack serializer", "yes (built in)");
    php_info_print_table_row(2, "Compression", "zstd");
    php_info_print_table_row(2, "Session handler", "cacheclient");
    php_info_print_table_row(2, "Stream wrapper", "cache://");
    php_info_print_table_end();
    DISPLAY_INI_ENTRIES();
}

static const zend_module_dep cacheclient_deps[] = {
    ZEND_MOD_REQUIRED("standard")
    ZEND_MOD_REQUIRED("spl")
    ZEND_MOD_REQUIRED("session")
    ZEND_MOD_OPTIONAL("igbinary")
    ZEND_MOD_END
};

zend_module_entry cacheclient_module_entry = {
    STANDARD_MODULE_HEADER_EX,
    NULL,
    cacheclient_deps,
    "cacheclient",
    NULL,
    PHP_MINIT(cacheclient),
    PHP_MSHUTDOWN(cacheclient),
    PHP_RINIT(cacheclient),
    PHP_RSHUTDOWN(cacheclient),
    PHP_MINFO(cacheclient),
    PHP_CACHECLIENT_VERSION,
    PHP_MODULE_GLOBALS(cacheclient),
    PHP_GINIT(cacheclient),
    NULL,
    ZEND_MODULE_POST_ZEND_DEACTIVATE_N(cacheclient),
    STANDARD_MODULE_PROPERTIES_EX
};

#ifdef COMPILE_DL_CACHECLIENT
#ifdef ZTS
ZEND_TSRMLS_CACHE_DEFINE()
#endif
ZEND_GET_MODULE(cacheclient)
#endif
