/* CacheClientKeyIterator: the keys of CacheClient::keys($prefix), fetched in batches with
 * SCAN. The client's own prefix is stripped from each key, and the hidden data keys of
 * cache:// streams are skipped. */
#include "php_cacheclient.h"

#include "zend_exceptions.h"
#include "zend_interfaces.h"

#include "cc_stream.h"

#define PHP_CC_SCAN_BATCH 500

typedef struct php_cc_keyiter {
    zval client;         /* the CacheClient (kept alive) */
    zend_string *prefix; /* client prefix + requested prefix */
    size_t strip;        /* bytes of client prefix to strip */
    uint64_t cursor;     /* next SCAN cursor; 0 with done = finished */
    bool started;
    bool done;
    zval batch;          /* array of key strings of the current batch */
    uint32_t pos;        /* position in batch */
    zend_long index;     /* keys yielded so far */
    zend_object std;
} php_cc_keyiter;

static zend_object_handlers _iter_handlers;

static inline php_cc_keyiter *_iter_from_obj(zend_object *obj)
{
    return (php_cc_keyiter *)((char *)obj - XtOffsetOf(php_cc_keyiter, std));
}

static zend_object *_iter_create(zend_class_entry *ce)
{
    php_cc_keyiter *it = zend_object_alloc(sizeof(php_cc_keyiter), ce);
    zend_object_std_init(&it->std, ce);
    object_properties_init(&it->std, ce);
    it->std.handlers = &_iter_handlers;
    ZVAL_UNDEF(&it->client);
    ZVAL_UNDEF(&it->batch);
    return &it->std;
}

static void _iter_free(zend_object *obj)
{
    php_cc_keyiter *it = _iter_from_obj(obj);
    zval_ptr_dtor(&it->client);
    zval_ptr_dtor(&it->batch);
    if (it->prefix)
        zend_string_release(it->prefix);
    zend_object_std_dtor(obj);
}

static HashTable *_iter_get_gc(zend_object *obj, zval **table, int *n)
{
    php_cc_keyiter *it = _iter_from_obj(obj);
    *table = &it->client;
    *n = 1;
    return zend_std_get_properties(obj);
}

void php_cc_keyiter_minit(void)
{
    php_cc_keyiter_ce->create_object = _iter_create;
    memcpy(&_iter_handlers, zend_get_std_object_handlers(), sizeof(zend_object_handlers));
    _iter_handlers.offset = XtOffsetOf(php_cc_keyiter, std);
    _iter_handlers.free_obj = _iter_free;
    _iter_handlers.get_gc = _iter_get_gc;
    _iter_handlers.clone_obj = NULL;
}

void php_cc_keyiter_create(zval *out, zval *client, zend_string *prefix)
{
    php_cc_client *cli = Z_CC_CLIENT_P(client);
    object_init_ex(out, php_cc_keyiter_ce);
    php_cc_keyiter *it = _iter_from_obj(Z_OBJ_P(out));
    ZVAL_COPY(&it->client, client);
    if (cli->core.prefix) {
        it->strip = ZSTR_LEN(cli->core.prefix);
        it->prefix = zend_string_concat2(ZSTR_VAL(cli->core.prefix), ZSTR_LEN(cli->core.prefix),
                                         ZSTR_VAL(prefix), ZSTR_LEN(prefix));
    } else {
        it->prefix = zend_string_copy(prefix);
    }
}

/* Fill the batch with the next non-empty SCAN page, or mark the scan done. */
static zend_result _iter_fetch(php_cc_keyiter *it)
{
    php_cc_client *cli = Z_CC_CLIENT_P(&it->client);
    php_cc_core *core = &cli->core;
    zval_ptr_dtor(&it->batch);
    array_init(&it->batch);
    it->pos = 0;
    while (!it->done && zend_hash_num_elements(Z_ARRVAL(it->batch)) == 0) {
        cc_keys keys = {0};
        uint64_t next = 0;
        int st;
        cc_client *c = php_cc_conn_begin(core->conn, ZSTR_VAL(core->ns), ZSTR_LEN(core->ns), true);
        if (!c)
            return FAILURE;
        PHP_CC_RUN(st, true, cc_scan(c, it->cursor, ZSTR_VAL(it->prefix), ZSTR_LEN(it->prefix),
                                     PHP_CC_SCAN_BATCH, &next, &keys));
        php_cc_conn_end(core->conn);
        if (st != CC_OK) {
            cc_keys_release(&keys);
            php_cc_throw_conn(core->conn, st);
            return FAILURE;
        }
        for (size_t i = 0; i < keys.n; i++) {
            const char *k = (const char *)keys.keys[i];
            size_t len = keys.lens[i];
            if (len < it->strip || php_cc_stream_is_data_key(k, len))
                continue;
            add_next_index_stringl(&it->batch, k + it->strip, len - it->strip);
        }
        cc_keys_release(&keys);
        it->cursor = next;
        if (next == 0)
            it->done = true;
    }
    return SUCCESS;
}

static php_cc_keyiter *_iter_this(zval *zthis)
{
    php_cc_keyiter *it = _iter_from_obj(Z_OBJ_P(zthis));
    if (Z_TYPE(it->client) != IS_OBJECT) {
        zend_throw_error(NULL, "CacheClientKeyIterator is made by CacheClient::keys()");
        return NULL;
    }
    if (!it->started) {
        it->started = true;
        if (_iter_fetch(it) == FAILURE)
            return NULL;
    }
    return it;
}

PHP_METHOD(CacheClientKeyIterator, __construct)
{
    ZEND_PARSE_PARAMETERS_NONE();
}

PHP_METHOD(CacheClientKeyIterator, rewind)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_keyiter *it = _iter_from_obj(Z_OBJ_P(ZEND_THIS));
    it->started = false;
    it->done = false;
    it->cursor = 0;
    it->index = 0;
    if (!_iter_this(ZEND_THIS))
        RETURN_THROWS();
}

PHP_METHOD(CacheClientKeyIterator, valid)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_keyiter *it = _iter_this(ZEND_THIS);
    if (!it)
        RETURN_THROWS();
    RETURN_BOOL(it->pos < zend_hash_num_elements(Z_ARRVAL(it->batch)));
}

PHP_METHOD(CacheClientKeyIterator, current)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_keyiter *it = _iter_this(ZEND_THIS);
    if (!it)
        RETURN_THROWS();
    zval *k = zend_hash_index_find(Z_ARRVAL(it->batch), it->pos);
    if (!k) {
        zend_throw_error(NULL, "CacheClientKeyIterator: no current key");
        RETURN_THROWS();
    }
    RETURN_COPY(k);
}

PHP_METHOD(CacheClientKeyIterator, key)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_keyiter *it = _iter_this(ZEND_THIS);
    if (!it)
        RETURN_THROWS();
    RETURN_LONG(it->index);
}

PHP_METHOD(CacheClientKeyIterator, next)
{
    ZEND_PARSE_PARAMETERS_NONE();
    php_cc_keyiter *it = _iter_this(ZEND_THIS);
    if (!it)
        RETURN_THROWS();
    if (it->pos < zend_hash_num_elements(Z_ARRVAL(it->batch))) {
        it->pos++;
        it->index++;
    }
    if (it->pos >= zend_hash_num_elements(Z_ARRVAL(it->batch)) && !it->done) {
        if (_iter_fetch(it) == FAILURE)
            RETURN_THROWS();
    }
}
