/* Pipelining: CacheClient::pipeline() and the CacheClientPipeline object that records calls,
 * and CacheClient::getAndTouch() (a GET and a TOUCH in one round trip). Recorded calls are
 * checked and encoded when they are made (a bad argument throws inside the callable, and
 * nothing is sent); they go to the server as one libcacheclient batch (one write) once the
 * callable returns, and each result is mapped as the equivalent CacheClient method maps it. A
 * server error on one call is that call's result, a CacheClientException object; a connection
 * error fails the whole pipeline (thrown: which calls took effect is unknown). */
#include "cc_methods.h"

#include "zend_exceptions.h"
#include "zend_interfaces.h"

zend_class_entry *php_cc_pipeline_ce;

/* What a recorded call returns: how its batch result becomes a PHP value. */
enum php_cc_pkind {
    PK_GET,      /* value or null */
    PK_GETV,     /* ['value' => v, 'version' => n] or null */
    PK_SET,      /* bool (set/add/replace) */
    PK_DEL,      /* int */
    PK_EXISTS,   /* bool */
    PK_INCR,     /* int */
    PK_DECR,     /* int */
    PK_TOUCH,    /* bool */
    PK_TTL,      /* float|false|null */
};

typedef struct php_cc_pop {
    enum php_cc_pkind kind;
    bool past;        /* SET/TOUCH with an absolute TTL already past: sent as a DEL */
    unsigned flags;   /* SET: CC_SET_NX / CC_SET_XX */
    zend_string *key; /* prefixed */
    uint64_t ttl_ms;
    zend_long by, initial;
    zval value;       /* SET: the value (kept alive for enc) */
    php_cc_encoded enc;
    bool has_enc;
} php_cc_pop;

typedef struct php_cc_pipeline {
    zval client;      /* the CacheClient */
    bool open;        /* recording: inside the callable of pipeline() */
    php_cc_pop *ops;
    size_t n, cap;
    zend_object std;
} php_cc_pipeline;

static zend_object_handlers _pipe_handlers;

static inline php_cc_pipeline *_pipe_from_obj(zend_object *obj)
{
    return (php_cc_pipeline *)((char *)obj - XtOffsetOf(php_cc_pipeline, std));
}

static void _ops_free(php_cc_pop *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].has_enc)
            php_cc_encoded_free(&ops[i].enc);
        zval_ptr_dtor(&ops[i].value);
        if (ops[i].key)
            zend_string_release(ops[i].key);
    }
}

static void _pipe_clear(php_cc_pipeline *p)
{
    _ops_free(p->ops, p->n);
    if (p->ops)
        efree(p->ops);
    p->ops = NULL;
    p->n = p->cap = 0;
}

static zend_object *_pipe_create(zend_class_entry *ce)
{
    php_cc_pipeline *p = zend_object_alloc(sizeof(php_cc_pipeline), ce);
    zend_object_std_init(&p->std, ce);
    object_properties_init(&p->std, ce);
    p->std.handlers = &_pipe_handlers;
    ZVAL_UNDEF(&p->client);
    return &p->std;
}

static void _pipe_free(zend_object *obj)
{
    php_cc_pipeline *p = _pipe_from_obj(obj);
    _pipe_clear(p);
    zval_ptr_dtor(&p->client);
    zend_object_std_dtor(obj);
}

static HashTable *_pipe_get_gc(zend_object *obj, zval **table, int *n)
{
    php_cc_pipeline *p = _pipe_from_obj(obj);
    *table = &p->client;
    *n = 1;
    return zend_std_get_properties(obj);
}

void php_cc_pipeline_minit(void)
{
    php_cc_pipeline_ce->create_object = _pipe_create;
    memcpy(&_pipe_handlers, zend_get_std_object_handlers(), sizeof(zend_object_handlers));
    _pipe_handlers.offset = XtOffsetOf(php_cc_pipeline, std);
    _pipe_handlers.free_obj = _pipe_free;
    _pipe_handlers.get_gc = _pipe_get_gc;
    _pipe_handlers.clone_obj = NULL;
}

/* ---- running a list of calls as one batch ---- */

/* A call that leaves the same state and answer when sent twice. */
static bool _replayable(const php_cc_pop *op)
{
    switch (op->kind) {
    case PK_INCR:
    case PK_DECR:
        return false;
    case PK_SET:
        return op->past || !(op->flags & CC_SET_NX);
    default:
        return true;
    }
}

static int _add(cc_batch *b, const php_cc_pop *op)
{
    const char *k = ZSTR_VAL(op->key);
    size_t kl = ZSTR_LEN(op->key);
    if (op->past)
        return cc_batch_del(b, k, kl);
    switch (op->kind) {
    case PK_GET:
    case PK_GETV:
        return cc_batch_get(b, k, kl);
    case PK_SET:
        return cc_batch_set_ex(b, k, kl, &op->enc.v, op->ttl_ms, op->flags, 0);
    case PK_DEL:
        return cc_batch_del(b, k, kl);
    case PK_EXISTS:
        return cc_batch_exists(b, k, kl);
    case PK_INCR:
        return cc_batch_incr_ex(b, k, kl, op->by, op->initial, op->ttl_ms);
    case PK_DECR:
        return cc_batch_decr_ex(b, k, kl, op->by, op->initial, op->ttl_ms);
    case PK_TOUCH:
        return cc_batch_touch(b, k, kl, op->ttl_ms);
    case PK_TTL:
        return cc_batch_ttl(b, k, kl);
    }
    return CC_E_CLIENT_ARGS;
}

static int _exec_once(cc_client *c, const php_cc_pop *ops, size_t n, cc_result *res)
{
    for (size_t i = 0; i < n; i++)
        cc_item_release(&res[i].item); /* a replay: what the first try read */
    cc_batch *b = cc_batch_create(c);
    if (!b)
        return CC_E_CLIENT_NOMEM;
    int st = CC_OK;
    for (size_t i = 0; i < n && st == CC_OK; i++)
        st = _add(b, &ops[i]);
    if (st == CC_OK)
        st = cc_batch_exec(b, res);
    cc_batch_destroy(&b);
    return st;
}

/* Send ops in one batch. CC_OK with res[0..n) filled (release their items), or an error
 * thrown (res holds nothing to release). */
static int _run(php_cc_client *cli, const php_cc_pop *ops, size_t n, cc_result *res)
{
    bool replayable = true;
    for (size_t i = 0; i < n; i++)
        replayable = replayable && _replayable(&ops[i]);
    cc_client *c = php_cc_begin(&cli->core, replayable);
    if (!c)
        return CC_E_CLIENT_ARGS;
    int st;
    memset(res, 0, n * sizeof(*res));
    PHP_CC_RUN(st, replayable, _exec_once(c, ops, n, res));
    php_cc_end(&cli->core);
    if (st != CC_OK) {
        for (size_t i = 0; i < n; i++)
            cc_item_release(&res[i].item);
        php_cc_throw_conn(cli->core.conn, st);
    }
    return st;
}

/* The CacheClientException object of status, not thrown. */
static void _exception_value(zval *out, int status)
{
    php_cc_throw_status(status, NULL);
    zend_object *ex = EG(exception);
    GC_ADDREF(ex);
    zend_clear_exception();
    ZVAL_OBJ(out, ex);
}

/* The exception pending (a decode failure) taken as a value. */
static void _take_exception(zval *out)
{
    zend_object *ex = EG(exception);
    GC_ADDREF(ex);
    zend_clear_exception();
    ZVAL_OBJ(out, ex);
}

/* The PHP result of one call, as the CacheClient method of the same name returns it. */
static void _map(php_cc_client *cli, const php_cc_pop *op, cc_result *r, zval *out)
{
    int st = r->status;
    ZVAL_NULL(out);
    if (op->past) {
        /* sent as DEL: set() stored-then-expired (true), replace() only if it existed,
         * touch() whether it existed */
        if (st != CC_OK)
            _exception_value(out, st);
        else if (op->kind == PK_SET)
            ZVAL_BOOL(out, !(op->flags & CC_SET_XX) || r->num > 0);
        else
            ZVAL_BOOL(out, r->num > 0);
        return;
    }
    switch (op->kind) {
    case PK_GET:
    case PK_GETV:
        if (st == CC_NOT_FOUND)
            return;
        if (st != CC_OK)
            break;
        zval v;
        if (php_cc_decode(&cli->core.codec, &r->item.value, &v) == FAILURE) {
            _take_exception(out);
            return;
        }
        if (op->kind == PK_GET) {
            ZVAL_COPY_VALUE(out, &v);
        } else {
            array_init_size(out, 2);
            add_assoc_zval_ex(out, "value", sizeof("value") - 1, &v);
            add_assoc_long_ex(out, "version", sizeof("version") - 1, (zend_long)r->item.version);
        }
        return;
    case PK_SET:
        if (st == CC_OK || st == CC_NOT_STORED || st == CC_CAS_MISMATCH || st == CC_NOT_FOUND) {
            ZVAL_BOOL(out, st == CC_OK);
            return;
        }
        break;
    case PK_DEL:
    case PK_INCR:
    case PK_DECR:
        if (st == CC_OK) {
            ZVAL_LONG(out, (zend_long)r->num);
            return;
        }
        break;
    case PK_EXISTS:
        if (st == CC_OK) {
            ZVAL_BOOL(out, r->num > 0);
            return;
        }
        break;
    case PK_TOUCH:
        if (st == CC_OK || st == CC_NOT_FOUND) {
            ZVAL_BOOL(out, st == CC_OK);
            return;
        }
        break;
    case PK_TTL:
        if (st == CC_NOT_FOUND)
            ZVAL_FALSE(out);
        else if (st == CC_OK && r->num < 0)
            ZVAL_NULL(out);
        else if (st == CC_OK)
            ZVAL_DOUBLE(out, (double)r->num / 1000.0);
        else
            break;
        return;
    }
    _exception_value(out, st);
}

/* ---- recording ---- */

/* The pipeline behind $this, open for recording; NULL with an Error thrown otherwise. */
static php_cc_pipeline *_recording(zval *zthis)
{
    php_cc_pipeline *p = _pipe_from_obj(Z_OBJ_P(zthis));
    if (!p->open || Z_TYPE(p->client) != IS_OBJECT) {
        zend_throw_error(NULL, "CacheClientPipeline can only record calls inside the callable "
                               "of CacheClient::pipeline()");
        return NULL;
    }
    return p;
}

/* A new call on key (prefixed), or NULL with an exception pending. */
static php_cc_pop *_record(php_cc_pipeline *p, enum php_cc_pkind kind, zend_string *key)
{
    php_cc_client *cli = Z_CC_CLIENT_P(&p->client);
    php_cc_key k;
    if (php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        return NULL;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->ops = safe_erealloc(p->ops, p->cap, sizeof(php_cc_pop), 0);
    }
    php_cc_pop *op = &p->ops[p->n];
    memset(op, 0, sizeof(*op));
    ZVAL_UNDEF(&op->value);
    op->kind = kind;
    op->key = zend_string_init(k.p, k.len, 0);
    php_cc_key_free(&k);
    return op;
}

/* Keep op (the call is recorded) and return $this for chaining. */
#define PHP_CC_RECORDED(p, return_value)   \
    do {                                   \
        (p)->n++;                          \
        RETURN_OBJ_COPY(&(p)->std);        \
    } while (0)

/* Drop a call being recorded after a failure (exception pending). */
static void _unrecord(php_cc_pop *op) { _ops_free(op, 1); }

static void _record_key_only(INTERNAL_FUNCTION_PARAMETERS, enum php_cc_pkind kind)
{
    zend_string *key;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_STR(key)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_pipeline *p = _recording(ZEND_THIS);
    php_cc_pop *op = p ? _record(p, kind, key) : NULL;
    if (!op)
        RETURN_THROWS();
    PHP_CC_RECORDED(p, return_value);
}

PHP_METHOD(CacheClientPipeline, __construct) {}

PHP_METHOD(CacheClientPipeline, get) { _record_key_only(INTERNAL_FUNCTION_PARAM_PASSTHRU, PK_GET); }
PHP_METHOD(CacheClientPipeline, getWithVersion)
{
    _record_key_only(INTERNAL_FUNCTION_PARAM_PASSTHRU, PK_GETV);
}
PHP_METHOD(CacheClientPipeline, delete) { _record_key_only(INTERNAL_FUNCTION_PARAM_PASSTHRU, PK_DEL); }
PHP_METHOD(CacheClientPipeline, exists)
{
    _record_key_only(INTERNAL_FUNCTION_PARAM_PASSTHRU, PK_EXISTS);
}
PHP_METHOD(CacheClientPipeline, ttl) { _record_key_only(INTERNAL_FUNCTION_PARAM_PASSTHRU, PK_TTL); }

static void _record_store(INTERNAL_FUNCTION_PARAMETERS, unsigned flags)
{
    zend_string *key;
    zval *value, *zttl = NULL, zero;
    ZEND_PARSE_PARAMETERS_START(2, 3)
        Z_PARAM_STR(key)
        Z_PARAM_ZVAL(value)
        Z_PARAM_OPTIONAL
        Z_PARAM_NUMBER(zttl)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_pipeline *p = _recording(ZEND_THIS);
    if (!p)
        RETURN_THROWS();
    uint64_t ttl_ms;
    bool past = false;
    ZVAL_LONG(&zero, 0);
    /* as CacheClient::set(): an absolute TTL already past makes set and replace a delete,
     * add writes with 1 ms */
    bool can_delete = !(flags & CC_SET_NX);
    if (php_cc_ttl_ms(zttl ? zttl : &zero, 3, &ttl_ms, can_delete ? &past : NULL) == FAILURE)
        RETURN_THROWS();
    php_cc_pop *op = _record(p, PK_SET, key);
    if (!op)
        RETURN_THROWS();
    op->flags = flags;
    op->ttl_ms = ttl_ms;
    op->past = past;
    if (!past) {
        php_cc_client *cli = Z_CC_CLIENT_P(&p->client);
        ZVAL_COPY_DEREF(&op->value, value);
        if (php_cc_encode(&cli->core.codec, &op->value, &op->enc) == FAILURE) {
            _unrecord(op);
            RETURN_THROWS();
        }
        op->has_enc = true;
    }
    PHP_CC_RECORDED(p, return_value);
}

PHP_METHOD(CacheClientPipeline, set) { _record_store(INTERNAL_FUNCTION_PARAM_PASSTHRU, 0); }
PHP_METHOD(CacheClientPipeline, add) { _record_store(INTERNAL_FUNCTION_PARAM_PASSTHRU, CC_SET_NX); }
PHP_METHOD(CacheClientPipeline, replace)
{
    _record_store(INTERNAL_FUNCTION_PARAM_PASSTHRU, CC_SET_XX);
}

static void _record_counter(INTERNAL_FUNCTION_PARAMETERS, enum php_cc_pkind kind)
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
    php_cc_pipeline *p = _recording(ZEND_THIS);
    if (!p)
        RETURN_THROWS();
    uint64_t ttl_ms;
    ZVAL_LONG(&zero, 0);
    if (php_cc_ttl_ms(zttl ? zttl : &zero, 4, &ttl_ms, NULL) == FAILURE)
        RETURN_THROWS();
    php_cc_pop *op = _record(p, kind, key);
    if (!op)
        RETURN_THROWS();
    op->by = by;
    op->initial = initial;
    op->ttl_ms = ttl_ms;
    PHP_CC_RECORDED(p, return_value);
}

PHP_METHOD(CacheClientPipeline, increment)
{
    _record_counter(INTERNAL_FUNCTION_PARAM_PASSTHRU, PK_INCR);
}
PHP_METHOD(CacheClientPipeline, decrement)
{
    _record_counter(INTERNAL_FUNCTION_PARAM_PASSTHRU, PK_DECR);
}

PHP_METHOD(CacheClientPipeline, touch)
{
    zend_string *key;
    zval *zttl;
    ZEND_PARSE_PARAMETERS_START(2, 2)
        Z_PARAM_STR(key)
        Z_PARAM_NUMBER(zttl)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_pipeline *p = _recording(ZEND_THIS);
    if (!p)
        RETURN_THROWS();
    uint64_t ttl_ms;
    bool past;
    if (php_cc_ttl_ms(zttl, 2, &ttl_ms, &past) == FAILURE)
        RETURN_THROWS();
    php_cc_pop *op = _record(p, PK_TOUCH, key);
    if (!op)
        RETURN_THROWS();
    op->ttl_ms = ttl_ms;
    op->past = past;
    PHP_CC_RECORDED(p, return_value);
}

/* ---- CacheClient methods ---- */

PHP_METHOD(CacheClient, pipeline)
{
    zend_fcall_info fci;
    zend_fcall_info_cache fcc;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_FUNC(fci, fcc)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();

    zval zpipe, ret;
    object_init_ex(&zpipe, php_cc_pipeline_ce);
    php_cc_pipeline *p = _pipe_from_obj(Z_OBJ(zpipe));
    ZVAL_COPY(&p->client, ZEND_THIS);
    p->open = true;
    ZVAL_UNDEF(&ret);
    fci.retval = &ret;
    fci.params = &zpipe;
    fci.param_count = 1;
    zend_result r = zend_call_function(&fci, &fcc);
    p->open = false;
    zval_ptr_dtor(&ret);
    if (r == FAILURE || EG(exception)) {
        /* nothing was sent */
        _pipe_clear(p);
        zval_ptr_dtor(&zpipe);
        RETURN_THROWS();
    }
    /* the ops are taken from the object: $p may outlive this call, closed */
    php_cc_pop *ops = p->ops;
    size_t n = p->n;
    p->ops = NULL;
    p->n = p->cap = 0;
    zval_ptr_dtor(&zpipe);

    array_init_size(return_value, (uint32_t)n);
    if (n > 0) {
        cc_result *res = safe_emalloc(n, sizeof(cc_result), 0);
        if (_run(cli, ops, n, res) == CC_OK) {
            for (size_t i = 0; i < n; i++) {
                zval v;
                _map(cli, &ops[i], &res[i], &v);
                cc_item_release(&res[i].item);
                add_next_index_zval(return_value, &v);
            }
        }
        efree(res);
    }
    _ops_free(ops, n);
    if (ops)
        efree(ops);
    if (EG(exception)) {
        zval_ptr_dtor(return_value);
        ZVAL_NULL(return_value);
        RETURN_THROWS();
    }
}

PHP_METHOD(CacheClient, getAndTouch)
{
    zend_string *key;
    zval *zttl, *found = NULL;
    ZEND_PARSE_PARAMETERS_START(2, 3)
        Z_PARAM_STR(key)
        Z_PARAM_NUMBER(zttl)
        Z_PARAM_OPTIONAL
        Z_PARAM_ZVAL(found)
    ZEND_PARSE_PARAMETERS_END();
    php_cc_client *cli = php_cc_this(ZEND_THIS);
    if (!cli)
        RETURN_THROWS();
    uint64_t ttl_ms;
    bool past;
    if (php_cc_ttl_ms(zttl, 2, &ttl_ms, &past) == FAILURE)
        RETURN_THROWS();
    php_cc_key k;
    if (php_cc_key_make(&k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        RETURN_THROWS();
    php_cc_pop ops[2];
    memset(ops, 0, sizeof(ops));
    ZVAL_UNDEF(&ops[0].value);
    ZVAL_UNDEF(&ops[1].value);
    ops[0].kind = PK_GET;
    ops[0].key = zend_string_init(k.p, k.len, 0);
    ops[1].kind = PK_TOUCH;
    ops[1].key = zend_string_copy(ops[0].key);
    ops[1].ttl_ms = ttl_ms;
    ops[1].past = past; /* an absolute time already past: read, then delete */
    php_cc_key_free(&k);

    cc_result res[2];
    if (_run(cli, ops, 2, res) == CC_OK) {
        int st = res[0].status == CC_OK ? res[1].status : res[0].status;
        if (st == CC_OK && res[0].status == CC_OK) {
            if (php_cc_decode(&cli->core.codec, &res[0].item.value, return_value) == FAILURE)
                ZVAL_NULL(return_value);
            else if (found)
                ZEND_TRY_ASSIGN_REF_TRUE(found);
        } else if (res[0].status == CC_NOT_FOUND ||
                   (res[0].status == CC_OK && res[1].status == CC_NOT_FOUND)) {
            /* a miss, or the key went away between the GET and the TOUCH (not atomic):
             * a miss either way, as nothing was touched */
            if (found)
                ZEND_TRY_ASSIGN_REF_FALSE(found);
            ZVAL_NULL(return_value);
        } else {
            php_cc_throw_status(st, cc_errmsg(cli->core.conn->client));
        }
        cc_item_release(&res[0].item);
        cc_item_release(&res[1].item);
    }
    _ops_free(ops, 2);
    if (EG(exception))
        RETURN_THROWS();
}
