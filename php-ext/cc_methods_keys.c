/* CacheClient's other methods: delete, exists, touch, ttl, counters, byte streams (append,
 * getRange, length), the key space (deleteByPrefix, keys, flush) and the server (stats, ping,
 * close). */
#include "cc_methods.h"

static void _count_keys(INTERNAL_FUNCTION_PARAMETERS, bool del)
{
    HashTable *keys = NULL;
    zend_string *key = NULL;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_ARRAY_HT_OR_STR(keys, key)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    php_cc_keylist kl;
    php_cc_key k;
    const void *one_p;
    size_t one_len;
    const void *const *kp;
    const size_t *klp;
    size_t n;
    memset(&kl, 0, sizeof(kl));
    if (key) {
        if (php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
            RETURN_THROWS();
        one_p = k.p;
        one_len = k.len;
        kp = &one_p;
        klp = &one_len;
        n = 1;
    } else {
        if (php_cc_keylist_make(&kl, &cli->core, keys, 1) == FAILURE)
            RETURN_THROWS();
        if (kl.n == 0)
            RETURN_LONG(0);
        kp = kl.p;
        klp = kl.len;
        n = kl.n;
    }
    cc_client *c = php_cc_begin(&cli->core, true);
    if (c) {
        int st;
        uint64_t count = 0;
        if (del)
            PHP_CC_RUN(st, true, cc_del(c, n, kp, klp, &count));
        else
            PHP_CC_RUN(st, true, cc_exists(c, n, kp, klp, &count));
        php_cc_end(&cli->core);
        if (st != CC_OK)
            php_cc_throw_conn(cli->core.conn, st);
        else if (del || !key)
            RETVAL_LONG((zend_long)count);
        else
            RETVAL_BOOL(count > 0);
    }
    if (key)
        php_cc_key_free(&k);
    else
        php_cc_keylist_free(&kl);
}

PHP_METHOD(CacheClient, delete) { _count_keys(INTERNAL_FUNCTION_PARAM_PASSTHRU, true); }

/* exists(string): bool; exists(array): how many of the keys exist (a key named twice
 * counts twice), as phpredis' exists() and the protocol's EXISTS count. */
PHP_METHOD(CacheClient, exists) { _count_keys(INTERNAL_FUNCTION_PARAM_PASSTHRU, false); }

PHP_METHOD(CacheClient, touch)
{
    zend_string *key;
    zval *zttl;
    ZEND_PARSE_PARAMETERS_START(2, 2)
        Z_PARAM_STR(key)
        Z_PARAM_NUMBER(zttl)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_key k;
    uint64_t ttl_ms;
    bool past;
    if (!cli || php_cc_ttl_ms(zttl, 2, &ttl_ms, &past) == FAILURE ||
        php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        RETURN_THROWS();
    cc_client *c = php_cc_begin(&cli->core, true);
    if (c) {
        int st;
        uint64_t deleted = 0;
        const void *kp = k.p;
        size_t kl = k.len;
        /* an absolute TTL already past expires the item now: a delete */
        if (past)
            PHP_CC_RUN(st, true, cc_del(c, 1, &kp, &kl, &deleted));
        else
            PHP_CC_RUN(st, true, cc_touch(c, k.p, k.len, ttl_ms));
        php_cc_end(&cli->core);
        if (past && st == CC_OK)
            RETVAL_BOOL(deleted > 0);
        else if (st == CC_OK || st == CC_NOT_FOUND)
            RETVAL_BOOL(st == CC_OK);
        else
            php_cc_throw_conn(cli->core.conn, st);
    }
    php_cc_key_free(&k);
}

PHP_METHOD(CacheClient, ttl)
{
    zend_string *key;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_STR(key)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_key k;
    cc_client *c = php_cc_key_begin(cli, key, &k, true);
    if (!c)
        RETURN_THROWS();
    int st;
    int64_t ms = 0;
    PHP_CC_RUN(st, true, cc_ttl(c, k.p, k.len, &ms));
    php_cc_end(&cli->core);
    if (st == CC_OK && ms < 0)
        RETVAL_NULL(); /* no expiry */
    else if (st == CC_OK)
        RETVAL_DOUBLE((double)ms / 1000.0);
    else if (st == CC_NOT_FOUND)
        RETVAL_FALSE;
    else
        php_cc_throw_conn(cli->core.conn, st);
    php_cc_key_free(&k);
}

static void _incr(INTERNAL_FUNCTION_PARAMETERS, bool up)
{
    zend_string *key;
    zend_long by = 1, initial = 0;
    zval *zttl = NULL, zero;
    ZEND_PARSE_PARAMETERS_START(1, 4)
        Z_PARAM_STR(key)
        Z_PARAM_OPTIONAL
        Z_PARAM_LONG(by)
        Z_PARAM_LONG(initial)
        Z_PARAM_NUMBER(zttl)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_key k;
    uint64_t ttl_ms;
    ZVAL_LONG(&zero, 0);
    if (!cli || php_cc_ttl_ms(zttl ? zttl : &zero, 4, &ttl_ms, NULL) == FAILURE ||
        php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        RETURN_THROWS();
    cc_client *c = php_cc_begin(&cli->core, false);
    if (c) {
        int st;
        int64_t result = 0;
        /* never replayed: a second INCR would count twice */
        if (up)
            st = cc_incr(c, k.p, k.len, by, initial, ttl_ms, &result);
        else
            st = cc_decr(c, k.p, k.len, by, initial, ttl_ms, &result);
        php_cc_end(&cli->core);
        if (st == CC_OK)
            RETVAL_LONG((zend_long)result);
        else
            php_cc_throw_conn(cli->core.conn, st);
    }
    php_cc_key_free(&k);
}

PHP_METHOD(CacheClient, increment) { _incr(INTERNAL_FUNCTION_PARAM_PASSTHRU, true); }
PHP_METHOD(CacheClient, decrement) { _incr(INTERNAL_FUNCTION_PARAM_PASSTHRU, false); }

/* ---- streams of bytes ---- */

PHP_METHOD(CacheClient, append)
{
    zend_string *key, *data;
    zval *zttl = NULL, zero;
    ZEND_PARSE_PARAMETERS_START(2, 3)
        Z_PARAM_STR(key)
        Z_PARAM_STR(data)
        Z_PARAM_OPTIONAL
        Z_PARAM_NUMBER(zttl)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_key k;
    uint64_t ttl_ms;
    ZVAL_LONG(&zero, 0);
    if (!cli || php_cc_ttl_ms(zttl ? zttl : &zero, 3, &ttl_ms, NULL) == FAILURE ||
        php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        RETURN_THROWS();
    cc_client *c = php_cc_begin(&cli->core, false);
    if (c) {
        uint64_t len = 0;
        int st = cc_append(c, k.p, k.len, ZSTR_VAL(data), ZSTR_LEN(data), ttl_ms, &len);
        php_cc_end(&cli->core);
        if (st == CC_OK)
            RETVAL_LONG((zend_long)len);
        else
            php_cc_throw_conn(cli->core.conn, st);
    }
    php_cc_key_free(&k);
}

PHP_METHOD(CacheClient, getRange)
{
    zend_string *key;
    zend_long offset, length;
    ZEND_PARSE_PARAMETERS_START(3, 3)
        Z_PARAM_STR(key)
        Z_PARAM_LONG(offset)
        Z_PARAM_LONG(length)
    ZEND_PARSE_PARAMETERS_END();
    if (offset < 0) {
        zend_argument_value_error(2, "must be greater than or equal to 0");
        RETURN_THROWS();
    }
    if (length < 0) {
        zend_argument_value_error(3, "must be greater than or equal to 0");
        RETURN_THROWS();
    }
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_key k;
    cc_client *c = php_cc_key_begin(cli, key, &k, true);
    if (!c)
        RETURN_THROWS();
    int st;
    cc_item item = {0};
    PHP_CC_RUN(st, true, cc_getrange(c, k.p, k.len, (uint64_t)offset, (uint64_t)length, &item));
    php_cc_end(&cli->core);
    if (st == CC_OK)
        RETVAL_STRINGL_FAST((const char *)item.value.data, item.value.len);
    else if (st == CC_NOT_FOUND)
        RETVAL_NULL();
    else
        php_cc_throw_conn(cli->core.conn, st);
    cc_item_release(&item);
    php_cc_key_free(&k);
}

PHP_METHOD(CacheClient, length)
{
    zend_string *key;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_STR(key)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_key k;
    cc_client *c = php_cc_key_begin(cli, key, &k, true);
    if (!c)
        RETURN_THROWS();
    int st;
    uint64_t len = 0;
    PHP_CC_RUN(st, true, cc_strlen(c, k.p, k.len, &len));
    php_cc_end(&cli->core);
    if (st == CC_OK)
        RETVAL_LONG((zend_long)len);
    else if (st == CC_NOT_FOUND)
        RETVAL_NULL();
    else
        php_cc_throw_conn(cli->core.conn, st);
    php_cc_key_free(&k);
}

/* ---- key space ---- */

PHP_METHOD(CacheClient, deleteByPrefix)
{
    zend_string *prefix;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_STR(prefix)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    zend_string *full = cli->core.prefix ? zend_string_concat2(ZSTR_VAL(cli->core.prefix),
                                                               ZSTR_LEN(cli->core.prefix),
                                                               ZSTR_VAL(prefix), ZSTR_LEN(prefix))
                                         : zend_string_copy(prefix);
    uint64_t cursor = 0, total = 0;
    int st = CC_OK;
    do {
        cc_keys keys = {0};
        uint64_t next = 0, deleted = 0;
        cc_client *c = php_cc_begin(&cli->core, true);
        if (!c)
            break;
        PHP_CC_RUN(st, true, cc_scan(c, cursor, ZSTR_VAL(full), ZSTR_LEN(full), 1000, &next, &keys));
        if (st == CC_OK && keys.n > 0)
            PHP_CC_RUN(st, true, cc_del(c, keys.n, (const void *const *)keys.keys, keys.lens, &deleted));
        php_cc_end(&cli->core);
        cc_keys_release(&keys);
        if (st != CC_OK) {
            php_cc_throw_conn(cli->core.conn, st);
            break;
        }
        total += deleted;
        cursor = next;
    } while (cursor != 0);
    zend_string_release(full);
    if (EG(exception))
        RETURN_THROWS();
    RETURN_LONG((zend_long)total);
}

PHP_METHOD(CacheClient, keys)
{
    zend_string *prefix = ZSTR_EMPTY_ALLOC();
    ZEND_PARSE_PARAMETERS_START(0, 1)
        Z_PARAM_OPTIONAL
        Z_PARAM_STR(prefix)
    ZEND_PARSE_PARAMETERS_END();
    if (!php_cc_this(ZEND_THIS))
        RETURN_THROWS();
    php_cc_keyiter_create(return_value, ZEND_THIS, prefix);
}

static void _flush(php_cc_client *cli, const char *ns, zval *return_value)
{
    cc_client *c = php_cc_begin(&cli->core, true);
    if (!c)
        return;
    int st;
    uint64_t removed = 0;
    PHP_CC_RUN(st, true, cc_flush(c, ns, &removed));
    php_cc_end(&cli->core);
    if (st == CC_OK)
        RETVAL_LONG((zend_long)removed);
    else
        php_cc_throw_conn(cli->core.conn, st);
}

PHP_METHOD(CacheClient, flush)
{
    zend_string *ns = NULL;
    ZEND_PARSE_PARAMETERS_START(0, 1)
        Z_PARAM_OPTIONAL
        Z_PARAM_STR_OR_NULL(ns)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    if (ns && (ZSTR_LEN(ns) > CC_MAX_NS_LEN || memchr(ZSTR_VAL(ns), '\0', ZSTR_LEN(ns)))) {
        zend_argument_value_error(1, "must be a namespace name of at most %d bytes", CC_MAX_NS_LEN);
        RETURN_THROWS();
    }
    _flush(cli, ns ? ZSTR_VAL(ns) : ZSTR_VAL(cli->core.ns), return_value);
}

PHP_METHOD(CacheClient, flushAll)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    _flush(cli, NULL, return_value);
}

/* ---- server ---- */

PHP_METHOD(CacheClient, stats)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    cc_client *c = php_cc_begin(&cli->core, true);
    if (!c)
        RETURN_THROWS();
    cc_item item = {0};
    int st;
    PHP_CC_RUN(st, true, cc_stats(c, &item));
    php_cc_end(&cli->core);
    if (st != CC_OK) {
        cc_item_release(&item);
        php_cc_throw_conn(cli->core.conn, st);
        RETURN_THROWS();
    }
    zend_result r = php_cc_decode(&cli->core.codec, &item.value, return_value);
    cc_item_release(&item);
    if (r == FAILURE) {
        ZVAL_NULL(return_value);
        RETURN_THROWS();
    }
    if (Z_TYPE_P(return_value) != IS_ARRAY) {
        zval_ptr_dtor(return_value);
        ZVAL_NULL(return_value);
        php_cc_throw_status(CC_E_BAD_REPLY, "STATS did not answer a map");
        RETURN_THROWS();
    }
}

/* The client's own counts of the shared-memory region (docs/shm-reads.md, "Stats"): no I/O,
 * so a loop may call it between reads. */
PHP_METHOD(CacheClient, shmStats)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    cc_shm_info s;
    php_cc_conn_shm_stats(cli->core.conn, &s);
    array_init_size(return_value, 7);
    add_assoc_bool_ex(return_value, "mapped", sizeof("mapped") - 1, s.mapped);
#define PHP_CC_SHM_COUNT(f) \
    add_assoc_long_ex(return_value, #f, sizeof(#f) - 1, (zend_long)(s.f > ZEND_LONG_MAX ? ZEND_LONG_MAX : s.f))
    PHP_CC_SHM_COUNT(hits);
    PHP_CC_SHM_COUNT(misses);
    PHP_CC_SHM_COUNT(retries);
    PHP_CC_SHM_COUNT(stale);
    PHP_CC_SHM_COUNT(checksum);
    PHP_CC_SHM_COUNT(socket_reads);
#undef PHP_CC_SHM_COUNT
}

PHP_METHOD(CacheClient, ping)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    cc_client *c = php_cc_begin(&cli->core, true);
    if (!c)
        RETURN_THROWS();
    int st;
    PHP_CC_RUN(st, true, cc_ping(c));
    php_cc_end(&cli->core);
    if (st != CC_OK) {
        php_cc_throw_conn(cli->core.conn, st);
        RETURN_THROWS();
    }
    RETURN_TRUE;
}

PHP_METHOD(CacheClient, wait)
{
    zend_long replicas;
    double timeout = 1.0;
    ZEND_PARSE_PARAMETERS_START(1, 2)
        Z_PARAM_LONG(replicas)
        Z_PARAM_OPTIONAL
        Z_PARAM_DOUBLE(timeout)
    ZEND_PARSE_PARAMETERS_END();
    if (replicas < 0 || replicas > CC_WAIT_MAX_REPLICAS) {
        zend_argument_value_error(1, "must be between 0 and %d", CC_WAIT_MAX_REPLICAS);
        RETURN_THROWS();
    }
    if (!(timeout >= 0 && timeout <= CC_WAIT_MAX_TIMEOUT_MS / 1000.0)) {
        zend_argument_value_error(2, "must be between 0 and %d seconds",
                                  CC_WAIT_MAX_TIMEOUT_MS / 1000);
        RETURN_THROWS();
    }
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    cc_client *c = php_cc_begin(&cli->core, true);
    if (!c)
        RETURN_THROWS();
    int st;
    unsigned acked = 0;
    PHP_CC_RUN(st, true, cc_wait(c, (unsigned)replicas, (uint32_t)(timeout * 1000.0), &acked));
    php_cc_end(&cli->core);
    if (st != CC_OK) {
        php_cc_throw_conn(cli->core.conn, st);
        RETURN_THROWS();
    }
    RETURN_LONG((zend_long)acked);
}

PHP_METHOD(CacheClient, close)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    php_cc_conn_close(cli->core.conn);
}
