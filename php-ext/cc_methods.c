/* CacheClient's object and its value methods (get, getMulti, getWithVersion, set, add,
 * replace, cas, setMulti, remember): argument checks, one libcacheclient call each (with the
 * replay rule of cc_conn.h), and the mapping of outcomes to PHP return values. */
#include "cc_methods.h"

#include <time.h>
#include <unistd.h>

#include "zend_exceptions.h"
#include "zend_interfaces.h"

static zend_object_handlers _client_handlers;

/* ---- object ---- */

static zend_object *_client_create(zend_class_entry *ce)
{
    php_cc_client *cli = zend_object_alloc(sizeof(php_cc_client), ce);
    zend_object_std_init(&cli->std, ce);
    object_properties_init(&cli->std, ce);
    cli->std.handlers = &_client_handlers;
    return &cli->std;
}

static void _client_free(zend_object *obj)
{
    php_cc_client *cli = php_cc_client_from_obj(obj);
    if (cli->initialized) {
        php_cc_core_deinit(&cli->core);
        cli->initialized = false;
    }
    zend_object_std_dtor(obj);
}

void php_cc_methods_minit(void)
{
    php_cc_client_ce->create_object = _client_create;
    memcpy(&_client_handlers, zend_get_std_object_handlers(), sizeof(zend_object_handlers));
    _client_handlers.offset = XtOffsetOf(php_cc_client, std);
    _client_handlers.free_obj = _client_free;
    _client_handlers.clone_obj = NULL;
}

/* ---- key lists ---- */

void php_cc_keylist_free(php_cc_keylist *kl)
{
    if (kl->p)
        efree(kl->p);
    if (kl->len)
        efree(kl->len);
    if (kl->orig) {
        for (size_t i = 0; i < kl->n; i++)
            zval_ptr_dtor(&kl->orig[i]);
        efree(kl->orig);
    }
    if (kl->buf)
        efree(kl->buf);
    memset(kl, 0, sizeof(*kl));
}

zend_result php_cc_keylist_make(php_cc_keylist *kl, const php_cc_core *core, HashTable *keys,
                                uint32_t arg_num)
{
    zval *v;
    size_t i = 0, total = 0;
    size_t plen = core->prefix ? ZSTR_LEN(core->prefix) : 0;
    memset(kl, 0, sizeof(*kl));
    kl->n = zend_hash_num_elements(keys);
    if (kl->n == 0)
        return SUCCESS;
    kl->p = safe_emalloc(kl->n, sizeof(void *), 0);
    kl->len = safe_emalloc(kl->n, sizeof(size_t), 0);
    kl->orig = safe_emalloc(kl->n, sizeof(zval), 0);
    ZEND_HASH_FOREACH_VAL(keys, v) {
        ZVAL_DEREF(v);
        if (Z_TYPE_P(v) == IS_STRING) {
            ZVAL_COPY(&kl->orig[i], v);
        } else if (Z_TYPE_P(v) == IS_LONG) {
            ZVAL_STR(&kl->orig[i], zend_long_to_str(Z_LVAL_P(v)));
        } else {
            kl->n = i;
            zend_argument_type_error(arg_num, "must contain only string or int keys, %s given",
                                     zend_zval_type_name(v));
            php_cc_keylist_free(kl);
            return FAILURE;
        }
        if (Z_STRLEN(kl->orig[i]) == 0) {
            kl->n = i + 1;
            zend_argument_value_error(arg_num, "must not contain empty keys");
            php_cc_keylist_free(kl);
            return FAILURE;
        }
        total += plen + Z_STRLEN(kl->orig[i]);
        i++;
    } ZEND_HASH_FOREACH_END();
    if (plen) {
        char *w = kl->buf = emalloc(total);
        for (i = 0; i < kl->n; i++) {
            memcpy(w, ZSTR_VAL(core->prefix), plen);
            memcpy(w + plen, Z_STRVAL(kl->orig[i]), Z_STRLEN(kl->orig[i]));
            kl->p[i] = w;
            kl->len[i] = plen + Z_STRLEN(kl->orig[i]);
            w += kl->len[i];
        }
    } else {
        for (i = 0; i < kl->n; i++) {
            kl->p[i] = Z_STRVAL(kl->orig[i]);
            kl->len[i] = Z_STRLEN(kl->orig[i]);
        }
    }
    return SUCCESS;
}

/* ---- construction ---- */

PHP_METHOD(CacheClient, __construct)
{
    zend_string *socket = NULL;
    HashTable *options = NULL;
    ZEND_PARSE_PARAMETERS_START(0, 2)
        Z_PARAM_OPTIONAL
        Z_PARAM_STR_OR_NULL(socket)
        Z_PARAM_ARRAY_HT(options)
    ZEND_PARSE_PARAMETERS_END();

    php_cc_client *cli = Z_CC_CLIENT_P(ZEND_THIS);
    if (cli->initialized) {
        zend_throw_error(NULL, "CacheClient::__construct() cannot be called twice");
        RETURN_THROWS();
    }
    if (php_cc_core_init(&cli->core, socket, options, "CacheClient::__construct()") == FAILURE)
        RETURN_THROWS();
    cli->initialized = true;
}

/* ---- reads ---- */

PHP_METHOD(CacheClient, get)
{
    zend_string *key;
    zval *found = NULL;
    ZEND_PARSE_PARAMETERS_START(1, 2)
        Z_PARAM_STR(key)
        Z_PARAM_OPTIONAL
        Z_PARAM_ZVAL(found)
    ZEND_PARSE_PARAMETERS_END();

    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_key k;
    cc_client *c = php_cc_key_begin(cli, key, &k, true);
    if (!c)
        RETURN_THROWS();
    cc_item item = {0};
    int st;
    PHP_CC_RUN(st, true, cc_get(c, k.p, k.len, &item));
    php_cc_end(&cli->core);
    php_cc_key_free(&k);
    if (st == CC_OK) {
        zend_result r = php_cc_decode(&cli->core.codec, &item.value, return_value);
        cc_item_release(&item);
        if (r == FAILURE) {
            ZVAL_NULL(return_value);
            RETURN_THROWS();
        }
        if (found)
            ZEND_TRY_ASSIGN_REF_TRUE(found);
        return;
    }
    cc_item_release(&item);
    if (st == CC_NOT_FOUND) {
        if (found)
            ZEND_TRY_ASSIGN_REF_FALSE(found);
        RETURN_NULL();
    }
    php_cc_throw_conn(cli->core.conn, st);
}

#define PHP_CC_STACK_KEYS 16

PHP_METHOD(CacheClient, getMulti)
{
    HashTable *keys;
    bool with_versions = false;
    ZEND_PARSE_PARAMETERS_START(1, 2)
        Z_PARAM_ARRAY_HT(keys)
        Z_PARAM_OPTIONAL
        Z_PARAM_BOOL(with_versions)
    ZEND_PARSE_PARAMETERS_END();

    php_cc_client *cli = php_cc_this(ZEND_THIS);
    php_cc_keylist kl;
    if (!cli || php_cc_keylist_make(&kl, &cli->core, keys, 1) == FAILURE)
        RETURN_THROWS();
    array_init_size(return_value, (uint32_t)kl.n);
    if (kl.n == 0)
        return;
    cc_item stack_items[PHP_CC_STACK_KEYS];
    cc_item *items = kl.n <= PHP_CC_STACK_KEYS ? stack_items : safe_emalloc(kl.n, sizeof(cc_item), 0);
    memset(items, 0, kl.n * sizeof(cc_item));

    cc_client *c = php_cc_begin(&cli->core, true);
    int st = CC_E_CLIENT_ARGS;
    if (c) {
        PHP_CC_RUN(st, true, cc_mget(c, kl.n, kl.p, kl.len, items));
        php_cc_end(&cli->core);
        if (st != CC_OK)
            php_cc_throw_conn(cli->core.conn, st);
    }
    size_t i = 0;
    if (c && st == CC_OK) {
        for (; i < kl.n; i++) {
            if (!items[i].found)
                continue;
            zval v;
            if (php_cc_decode(&cli->core.codec, &items[i].value, &v) == FAILURE)
                break;
            if (with_versions) {
                /* as getWithVersion() answers each key */
                zval pair;
                array_init_size(&pair, 2);
                add_assoc_zval_ex(&pair, "value", sizeof("value") - 1, &v);
                add_assoc_long_ex(&pair, "version", sizeof("version") - 1,
                                  (zend_long)items[i].version);
                ZVAL_COPY_VALUE(&v, &pair);
            }
            cc_item_release(&items[i]);
            zend_symtable_update(Z_ARRVAL_P(return_value), Z_STR(kl.orig[i]), &v);
        }
    }
    for (size_t j = 0; j < kl.n; j++)
        cc_item_release(&items[j]);
    if (items != stack_items)
        efree(items);
    php_cc_keylist_free(&kl);
    if (EG(exception)) {
        zval_ptr_dtor(return_value);
        ZVAL_NULL(return_value);
        RETURN_THROWS();
    }
}

PHP_METHOD(CacheClient, getWithVersion)
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
    cc_item item = {0};
    int st;
    PHP_CC_RUN(st, true, cc_get(c, k.p, k.len, &item));
    php_cc_end(&cli->core);
    php_cc_key_free(&k);
    if (st == CC_OK) {
        zval v;
        zend_result r = php_cc_decode(&cli->core.codec, &item.value, &v);
        uint64_t version = item.version;
        cc_item_release(&item);
        if (r == FAILURE)
            RETURN_THROWS();
        array_init_size(return_value, 2);
        add_assoc_zval_ex(return_value, "value", sizeof("value") - 1, &v);
        add_assoc_long_ex(return_value, "version", sizeof("version") - 1, (zend_long)version);
        return;
    }
    cc_item_release(&item);
    if (st == CC_NOT_FOUND)
        RETURN_NULL();
    php_cc_throw_conn(cli->core.conn, st);
}

/* ---- writes ---- */

/* set/add/replace/cas: flags CC_SET_NX/XX, cas a version (0 = none). Returns true when
 * stored, false on NOT_STORED, CAS_MISMATCH or (cas) NOT_FOUND. */
static void _store(php_cc_client *cli, zend_string *key, zval *value, zval *zttl, uint32_t ttl_arg,
                   unsigned flags, uint64_t cas, zval *return_value)
{
    php_cc_key k;
    uint64_t ttl_ms;
    bool past = false;
    php_cc_encoded enc;
    /* An absolute TTL already past makes set and replace a delete (memcached leaves nothing
     * readable either); add and cas cannot be a conditional delete: they write with 1 ms. */
    bool can_delete = !(flags & CC_SET_NX) && cas == 0;
    if (php_cc_ttl_ms(zttl, ttl_arg, &ttl_ms, can_delete ? &past : NULL) == FAILURE ||
        php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        return;
    if (php_cc_encode(&cli->core.codec, value, &enc) == FAILURE) {
        php_cc_key_free(&k);
        return;
    }
    /* A replayed plain SET or XX SET leaves the same state and answer; NX and CAS do not. */
    bool replayable = !(flags & CC_SET_NX) && cas == 0;
    cc_client *c = php_cc_begin(&cli->core, replayable);
    if (c && past) {
        int st;
        uint64_t deleted = 0;
        const void *kp = k.p;
        size_t kl = k.len;
        PHP_CC_RUN(st, true, cc_del(c, 1, &kp, &kl, &deleted));
        php_cc_end(&cli->core);
        if (st == CC_OK)
            RETVAL_BOOL(!(flags & CC_SET_XX) || deleted > 0);
        else
            php_cc_throw_conn(cli->core.conn, st);
    } else if (c) {
        int st;
        PHP_CC_RUN(st, replayable, cc_set(c, k.p, k.len, &enc.v, ttl_ms, flags, cas, NULL));
        php_cc_end(&cli->core);
        if (st == CC_OK)
            RETVAL_TRUE;
        else if (st == CC_NOT_STORED || st == CC_CAS_MISMATCH || st == CC_NOT_FOUND)
            RETVAL_FALSE;
        else
            php_cc_throw_conn(cli->core.conn, st);
    }
    php_cc_encoded_free(&enc);
    php_cc_key_free(&k);
}

#define PHP_CC_STORE_METHOD(name, flags)                                   \
    PHP_METHOD(CacheClient, name)                                          \
    {                                                                      \
        zend_string *key;                                                  \
        zval *value, *zttl = NULL, zero;                                   \
        ZEND_PARSE_PARAMETERS_START(2, 3)                                  \
            Z_PARAM_STR(key)                                               \
            Z_PARAM_ZVAL(value)                                            \
            Z_PARAM_OPTIONAL                                               \
            Z_PARAM_NUMBER(zttl)                                           \
        ZEND_PARSE_PARAMETERS_END();                                       \
        php_cc_client *cli = php_cc_this(ZEND_THIS);                             \
        if (!cli)                                                          \
            RETURN_THROWS();                                               \
        ZVAL_LONG(&zero, 0);                                               \
        _store(cli, key, value, zttl ? zttl : &zero, 3, flags, 0, return_value); \
    }

PHP_CC_STORE_METHOD(set, 0)
PHP_CC_STORE_METHOD(add, CC_SET_NX)
PHP_CC_STORE_METHOD(replace, CC_SET_XX)

PHP_METHOD(CacheClient, cas)
{
    zend_string *key;
    zend_long version;
    zval *value, *zttl = NULL, zero;
    ZEND_PARSE_PARAMETERS_START(3, 4)
        Z_PARAM_STR(key)
        Z_PARAM_LONG(version)
        Z_PARAM_ZVAL(value)
        Z_PARAM_OPTIONAL
        Z_PARAM_NUMBER(zttl)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    if (version == 0) {
        zend_argument_value_error(2, "must be a version returned by getWithVersion()");
        RETURN_THROWS();
    }
    ZVAL_LONG(&zero, 0);
    _store(cli, key, value, zttl ? zttl : &zero, 4, 0, (uint64_t)version, return_value);
}

PHP_METHOD(CacheClient, setMulti)
{
    HashTable *items, *key_ttls = NULL;
    zval *zttl = NULL, zero;
    ZEND_PARSE_PARAMETERS_START(1, 3)
        Z_PARAM_ARRAY_HT(items)
        Z_PARAM_OPTIONAL
        Z_PARAM_NUMBER(zttl)
        Z_PARAM_ARRAY_HT_OR_NULL(key_ttls)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    uint64_t ttl_ms;
    bool past;
    ZVAL_LONG(&zero, 0);
    if (php_cc_ttl_ms(zttl ? zttl : &zero, 2, &ttl_ms, &past) == FAILURE)
        RETURN_THROWS();
    if (key_ttls) {
        /* every per-key TTL names a key of $items and is a TTL: a typo is an error, not a
         * silently ignored TTL */
        zend_string *tkey;
        zend_ulong tidx;
        zval *t;
        ZEND_HASH_FOREACH_KEY_VAL(key_ttls, tidx, tkey, t) {
            ZVAL_DEREF(t);
            if (Z_TYPE_P(t) != IS_LONG && Z_TYPE_P(t) != IS_DOUBLE) {
                zend_argument_type_error(3, "must contain only int or float TTLs, %s given",
                                         zend_zval_type_name(t));
                RETURN_THROWS();
            }
            if (!(tkey ? zend_hash_exists(items, tkey) : zend_hash_index_exists(items, tidx))) {
                if (tkey)
                    zend_argument_value_error(3, "names key \"%s\" that is not in argument #1 ($items)",
                                              ZSTR_VAL(tkey));
                else
                    zend_argument_value_error(3, "names key " ZEND_ULONG_FMT " that is not in argument #1 ($items)",
                                              tidx);
                RETURN_THROWS();
            }
            uint64_t ms;
            if (php_cc_ttl_ms(t, 3, &ms, NULL) == FAILURE)
                RETURN_THROWS();
        } ZEND_HASH_FOREACH_END();
    }
    size_t n = zend_hash_num_elements(items);
    if (n == 0)
        RETURN_TRUE;

    size_t plen = cli->core.prefix ? ZSTR_LEN(cli->core.prefix) : 0;
    const void **kp = safe_emalloc(n, sizeof(void *), 0);
    size_t *kl = safe_emalloc(n, sizeof(size_t), 0);
    zend_string **kstr = ecalloc(n, sizeof(zend_string *));
    php_cc_encoded *enc = ecalloc(n, sizeof(php_cc_encoded));
    cc_value *vals = safe_emalloc(n, sizeof(cc_value), 0);
    uint64_t *ttls = safe_emalloc(n, sizeof(uint64_t), 0);
    size_t done = 0;
    bool *gone = ecalloc(n, sizeof(bool)); /* an absolute TTL already past: deleted */
    size_t ngone = 0;
    zend_string *skey;
    zend_ulong ikey;
    zval *val;
    bool ok = true;

    ZEND_HASH_FOREACH_KEY_VAL(items, ikey, skey, val) {
        char numbuf[MAX_LENGTH_OF_LONG + 1];
        const char *kraw;
        size_t klen;
        if (skey) {
            kraw = ZSTR_VAL(skey);
            klen = ZSTR_LEN(skey);
        } else {
            char *end = numbuf + sizeof(numbuf) - 1;
            *end = '\0';
            kraw = zend_print_long_to_buf(end, (zend_long)ikey);
            klen = (size_t)(end - kraw);
        }
        if (klen == 0) {
            zend_argument_value_error(1, "must not contain empty keys");
            ok = false;
            break;
        }
        kstr[done] = zend_string_alloc(plen + klen, 0);
        if (plen)
            memcpy(ZSTR_VAL(kstr[done]), ZSTR_VAL(cli->core.prefix), plen);
        memcpy(ZSTR_VAL(kstr[done]) + plen, kraw, klen);
        ZSTR_VAL(kstr[done])[plen + klen] = '\0';
        kp[done] = ZSTR_VAL(kstr[done]);
        kl[done] = plen + klen;
        if (php_cc_encode(&cli->core.codec, val, &enc[done]) == FAILURE) {
            zend_string_efree(kstr[done]);
            kstr[done] = NULL;
            ok = false;
            break;
        }
        vals[done] = enc[done].v;
        ttls[done] = ttl_ms;
        gone[done] = past;
        zval *t = key_ttls ? (skey ? zend_hash_find(key_ttls, skey)
                                   : zend_hash_index_find(key_ttls, ikey))
                           : NULL;
        if (t) {
            ZVAL_DEREF(t);
            if (php_cc_ttl_ms(t, 3, &ttls[done], &gone[done]) == FAILURE) {
                done++;
                ok = false;
                break;
            }
        }
        ngone += gone[done];
        done++;
    } ZEND_HASH_FOREACH_END();

    if (ok) {
        cc_client *c = php_cc_begin(&cli->core, true);
        if (c) {
            int st = CC_OK;
            uint64_t deleted;
            /* An absolute TTL already past: that key is deleted (nothing stays readable).
             * The others are one MSET (all or none), then the deletes. */
            if (ngone) {
                size_t w = 0;
                const void **gp = safe_emalloc(ngone, sizeof(void *), 0);
                size_t *gl = safe_emalloc(ngone, sizeof(size_t), 0);
                size_t g = 0;
                for (size_t i = 0; i < n; i++) {
                    if (gone[i]) {
                        gp[g] = kp[i];
                        gl[g++] = kl[i];
                    } else {
                        kp[w] = kp[i];
                        kl[w] = kl[i];
                        vals[w] = vals[i];
                        ttls[w++] = ttls[i];
                    }
                }
                if (w)
                    PHP_CC_RUN(st, true, cc_mset(c, w, kp, kl, vals, ttls));
                if (st == CC_OK)
                    PHP_CC_RUN(st, true, cc_del(c, ngone, gp, gl, &deleted));
                efree(gp);
                efree(gl);
            } else {
                PHP_CC_RUN(st, true, cc_mset(c, n, kp, kl, vals, ttls));
            }
            php_cc_end(&cli->core);
            if (st == CC_OK)
                RETVAL_TRUE;
            else
                php_cc_throw_conn(cli->core.conn, st);
        }
    }
    for (size_t i = 0; i < done; i++) {
        php_cc_encoded_free(&enc[i]);
        zend_string_efree(kstr[i]);
    }
    efree(kp);
    efree(kl);
    efree(kstr);
    efree(enc);
    efree(vals);
    efree(ttls);
    efree(gone);
}

/* ---- remember: compute-if-absent with a lease (docs/protocol.md, "Leases") ---- */

/* Seconds (int or float) in options[name] as milliseconds in lo..hi; *ms unchanged when the
 * option is absent or null. ValueError/TypeError otherwise. */
static zend_result _option_ms(HashTable *options, const char *name, uint64_t lo, uint64_t hi,
                              uint64_t *ms)
{
    zval *z = options ? zend_hash_str_find_deref(options, name, strlen(name)) : NULL;
    if (!z || Z_TYPE_P(z) == IS_NULL)
        return SUCCESS;
    if (Z_TYPE_P(z) != IS_LONG && Z_TYPE_P(z) != IS_DOUBLE) {
        zend_argument_type_error(4, "option \"%s\" must be int|float seconds, %s given", name,
                                 zend_zval_type_name(z));
        return FAILURE;
    }
    double sec = Z_TYPE_P(z) == IS_LONG ? (double)Z_LVAL_P(z) : Z_DVAL_P(z);
    double v = sec * 1000.0;
    if (!(v >= (double)lo && v <= (double)hi)) { /* NaN fails too */
        zend_argument_value_error(4, "option \"%s\" must be %.3f..%.3f seconds", name,
                                  (double)lo / 1000.0, (double)hi / 1000.0);
        return FAILURE;
    }
    *ms = (uint64_t)(v + 0.5);
    return SUCCESS;
}

static uint64_t _mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Call $compute($key); FAILURE with the exception pending. */
static zend_result _call_compute(zend_fcall_info *fci, zend_fcall_info_cache *fcc,
                                 zend_string *key, zval *computed)
{
    zval arg;
    ZVAL_STR_COPY(&arg, key);
    fci->retval = computed;
    fci->params = &arg;
    fci->param_count = 1;
    ZVAL_UNDEF(computed);
    zend_result r = zend_call_function(fci, fcc);
    zval_ptr_dtor(&arg);
    if (r == FAILURE || EG(exception)) {
        zval_ptr_dtor(computed);
        ZVAL_UNDEF(computed);
        return FAILURE;
    }
    return SUCCESS;
}

/* End the lease (token) without storing: the compute failed or the value is not to be kept.
 * A failure here is not the caller's problem: the lease expires on its own. */
static void _lease_release(php_cc_client *cli, const php_cc_key *k, uint64_t token)
{
    cc_client *c = php_cc_begin(&cli->core, false);
    if (!c) {
        zend_clear_exception();
        return;
    }
    cc_lease_set(c, k->p, k->len, token, NULL, 0, NULL);
    php_cc_end(&cli->core);
}

/* Store the computed value under the lease token. A lost lease (NOT_STORED) is no error:
 * the value stands, it is just not kept. FAILURE with an exception pending. */
static zend_result _lease_store(php_cc_client *cli, const php_cc_key *k, uint64_t token,
                                zval *computed, uint64_t ttl_ms)
{
    php_cc_encoded enc;
    if (php_cc_encode(&cli->core.codec, computed, &enc) == FAILURE) {
        _lease_release(cli, k, token);
        return FAILURE;
    }
    cc_client *c = php_cc_begin(&cli->core, false);
    zend_result r = FAILURE;
    if (c) {
        int st = cc_lease_set(c, k->p, k->len, token, &enc.v, ttl_ms, NULL);
        php_cc_end(&cli->core);
        if (st == CC_OK || st == CC_NOT_STORED)
            r = SUCCESS;
        else
            php_cc_throw_conn(cli->core.conn, st);
    }
    php_cc_encoded_free(&enc);
    return r;
}

/* A hit's value as the return value (null, with the exception pending, when it cannot be
 * decoded); the item is released. */
static void _return_item(php_cc_client *cli, cc_item *item, zval *return_value)
{
    if (php_cc_decode(&cli->core.codec, &item->value, return_value) == FAILURE)
        ZVAL_NULL(return_value);
    cc_item_release(item);
}

/* remember() against a server without leases (E_UNKNOWN_OP): GET, compute on a miss, SET,
 * as before leases (concurrent callers may all compute). */
static void _remember_unleased(php_cc_client *cli, zend_string *key, const php_cc_key *k,
                               zend_fcall_info *fci, zend_fcall_info_cache *fcc, zval *zttl,
                               zval *return_value)
{
    cc_client *c = php_cc_begin(&cli->core, true);
    if (!c)
        return;
    cc_item item = {0};
    int st;
    PHP_CC_RUN(st, true, cc_get(c, k->p, k->len, &item));
    php_cc_end(&cli->core);
    if (st == CC_OK) {
        _return_item(cli, &item, return_value);
        return;
    }
    if (st != CC_NOT_FOUND) {
        php_cc_throw_conn(cli->core.conn, st);
        return;
    }
    zval computed, stored;
    if (_call_compute(fci, fcc, key, &computed) == FAILURE)
        return;
    ZVAL_UNDEF(&stored);
    _store(cli, key, &computed, zttl, 3, 0, 0, &stored);
    if (EG(exception)) {
        zval_ptr_dtor(&computed);
        return;
    }
    ZVAL_COPY_VALUE(return_value, &computed);
}

PHP_METHOD(CacheClient, remember)
{
    zend_string *key;
    zend_fcall_info fci;
    zend_fcall_info_cache fcc;
    zval *zttl = NULL, zero;
    HashTable *options = NULL;
    ZEND_PARSE_PARAMETERS_START(2, 4)
        Z_PARAM_STR(key)
        Z_PARAM_FUNC(fci, fcc)
        Z_PARAM_OPTIONAL
        Z_PARAM_NUMBER(zttl)
        Z_PARAM_ARRAY_HT(options)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    uint64_t ttl_ms, lease_ms = CC_LEASE_DEFAULT_MS, wait_ms;
    bool past = false;
    ZVAL_LONG(&zero, 0);
    if (!cli || php_cc_ttl_ms(zttl ? zttl : &zero, 3, &ttl_ms, &past) == FAILURE ||
        _option_ms(options, "lease", 1, CC_LEASE_MAX_MS, &lease_ms) == FAILURE)
        RETURN_THROWS();
    wait_ms = lease_ms; /* by default as long as the lease can last: then it is ours to take */
    if (_option_ms(options, "wait", 0, CC_LEASE_MAX_MS, &wait_ms) == FAILURE)
        RETURN_THROWS();

    php_cc_key k;
    if (php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        RETURN_THROWS();
    uint64_t deadline = _mono_ms() + wait_ms;
    uint64_t pause = 0, token = 0;
    bool computed_ok = false;
    zval computed;
    ZVAL_UNDEF(&computed);
    for (;;) {
        /* 1. the stored value, or the key's lease */
        cc_client *c = php_cc_begin(&cli->core, true);
        if (!c)
            break;
        cc_item item = {0};
        uint32_t retry = 0;
        int st;
        PHP_CC_RUN(st, true, cc_lease_get(c, k.p, k.len, (uint32_t)lease_ms, &item, &token, &retry));
        php_cc_end(&cli->core);
        if (st == CC_OK) {
            _return_item(cli, &item, return_value);
            break;
        }
        if (st == CC_E_UNKNOWN_OP) { /* a server older than leases: get, compute, set */
            _remember_unleased(cli, key, &k, &fci, &fcc, zttl ? zttl : &zero, return_value);
            php_cc_key_free(&k);
            if (EG(exception))
                RETURN_THROWS();
            return;
        }
        if (cc_status_is_error(st)) {
            php_cc_throw_conn(cli->core.conn, st);
            break;
        }
        /* 2. another caller computes it: wait for its value, polling, up to the bound */
        uint64_t now = _mono_ms();
        if (st == CC_LEASE_WAIT && now < deadline) {
            pause = pause ? pause * 2 : (retry ? retry : 1);
            if (pause > 20)
                pause = 20;
            uint64_t left = deadline - now;
            usleep((useconds_t)((pause < left ? pause : left) * 1000));
            continue;
        }
        /* 3. compute it: with the lease (LEASED) it is stored; after a wait that ran out, or
         * without a lease to be had (a fenced server), it is only returned. No call is in
         * flight: the callback may use this client. */
        if (st != CC_LEASED)
            token = 0;
        if (_call_compute(&fci, &fcc, key, &computed) == FAILURE) {
            if (token)
                _lease_release(cli, &k, token); /* the next caller computes at once */
            break;
        }
        computed_ok = true;
        if (token && past)
            _lease_release(cli, &k, token); /* an absolute TTL already past: keep nothing */
        else if (token)
            _lease_store(cli, &k, token, &computed, ttl_ms);
        break;
    }
    php_cc_key_free(&k);
    if (EG(exception)) {
        zval_ptr_dtor(&computed);
        zval_ptr_dtor(return_value);
        ZVAL_NULL(return_value);
        RETURN_THROWS();
    }
    if (computed_ok)
        RETURN_COPY_VALUE(&computed);
}

