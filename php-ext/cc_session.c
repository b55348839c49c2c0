/* session.save_handler = cacheclient.
 *
 * session.save_path = "/path/to.sock?prefix=sess:&persistent=1&namespace=web&connect_timeout=0.5&read_timeout=2"
 * Session data is a bytes value at <prefix><id> with TTL session.gc_maxlifetime.
 *
 * Locking (cacheclient.session_locking, on by default) is built on SET NX/CAS until the
 * server has a blocking lock op: the lock is <prefix><id>.lock holding a random owner token,
 * with a TTL (cacheclient.session_lock_expire, default max_execution_time or 30 s) so that
 * a worker that dies cannot hold it forever. Release is a CAS on the version our SET NX
 * returned, replacing the token by "" with a 1 ms TTL: a lock that expired and was taken by
 * someone else is never released by us. A waiter that finds "" takes the lock with a CAS at
 * once; otherwise it waits with exponential backoff from 1 ms to 4 ms (with jitter), up to
 * cacheclient.session_lock_wait seconds, then read fails and session_start() returns false.
 * The lock is released by close (session_write_close, end of request, including after a
 * fatal error, when the session module flushes), by destroy, and as a last resort after
 * every module has shut down for the request. Failures are warnings, as with files. */
#include "php_cacheclient.h"

#include <math.h>
#include <sys/random.h>
#include <time.h>

#include "ext/session/php_session.h"
#include "ext/standard/url.h"
#include "zend_exceptions.h"

#define PHP_CC_SESS_PREFIX "sess:"
#define PHP_CC_LOCK_SUFFIX ".lock"
#define PHP_CC_BACKOFF_MIN_US 1000
#define PHP_CC_BACKOFF_MAX_US 4000
#define PHP_CC_RELEASED_TTL_MS 1

typedef struct php_cc_sess {
    php_cc_core core;
    bool locked;
    zend_string *lock_key;  /* raw (prefixed) lock key while locked */
    uint64_t lock_version;  /* version of our lock item (for the CAS release) */
    char token[33];
} php_cc_sess;

/* The session of this request (one at a time in a process), for the last-resort unlock. */
static php_cc_sess *_active;

PS_FUNCS_UPDATE_TIMESTAMP(cacheclient);

static const ps_module _ps_mod = {PS_MOD_UPDATE_TIMESTAMP(cacheclient)};

zend_result php_cc_session_minit(void) { return php_session_register_module(&_ps_mod); }

static void _warn_status(php_cc_sess *s, const char *what, int st)
{
    if (php_cc_exception_to_warning(what))
        return;
    const char *msg = s && s->core.conn && s->core.conn->client ? cc_errmsg(s->core.conn->client) : "";
    php_error_docref(NULL, E_WARNING, "%s: %s: %s", what, cc_status_name(st),
                     msg && *msg ? msg : cc_status_message(st));
}

static cc_client *_begin(php_cc_sess *s, bool replayable)
{
    return php_cc_conn_begin(s->core.conn, ZSTR_VAL(s->core.ns), ZSTR_LEN(s->core.ns), replayable);
}
static void _end(php_cc_sess *s) { php_cc_conn_end(s->core.conn); }

static zend_string *_key(php_cc_sess *s, zend_string *id, const char *suffix)
{
    size_t plen = s->core.prefix ? ZSTR_LEN(s->core.prefix) : 0;
    size_t slen = suffix ? strlen(suffix) : 0;
    zend_string *k = zend_string_alloc(plen + ZSTR_LEN(id) + slen, 0);
    if (plen)
        memcpy(ZSTR_VAL(k), ZSTR_VAL(s->core.prefix), plen);
    memcpy(ZSTR_VAL(k) + plen, ZSTR_VAL(id), ZSTR_LEN(id));
    if (slen)
        memcpy(ZSTR_VAL(k) + plen + ZSTR_LEN(id), suffix, slen);
    ZSTR_VAL(k)[ZSTR_LEN(k)] = '\0';
    return k;
}

static uint64_t _ttl_ms(zend_long seconds) { return seconds > 0 ? (uint64_t)seconds * 1000 : 0; }

static uint64_t _now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t _rand32(void)
{
    uint32_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)_now_us() * 2654435761u;
    return r;
}

/* ---- save_path ---- */

/* "/path.sock?name=value&..." -> socket and an options array for php_cc_core_init. */
static zend_result _parse_save_path(const char *path, zend_string **socket, zval *opts)
{
    const char *q = strchr(path, '?');
    size_t sl = q ? (size_t)(q - path) : strlen(path);
    array_init(opts);
    *socket = sl ? zend_string_init(path, sl, 0) : NULL;
    add_assoc_string(opts, "prefix", PHP_CC_SESS_PREFIX);
    if (!q)
        return SUCCESS;
    char *qs = estrdup(q + 1), *save = NULL;
    for (char *pair = strtok_r(qs, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        char *val = eq ? eq + 1 : (char *)"";
        if (eq)
            *eq = '\0';
        size_t vlen = php_url_decode(val, strlen(val));
        if (strcmp(pair, "prefix") == 0 || strcmp(pair, "namespace") == 0) {
            add_assoc_stringl(opts, pair, val, vlen);
        } else if (strcmp(pair, "persistent") == 0) {
            if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0)
                add_assoc_bool(opts, "persistent", true);
            else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0 || vlen == 0)
                add_assoc_bool(opts, "persistent", false);
            else
                add_assoc_stringl(opts, "persistent", val, vlen);
        } else if (strcmp(pair, "connect_timeout") == 0 || strcmp(pair, "read_timeout") == 0) {
            add_assoc_double(opts, pair, zend_strtod(val, NULL));
        } else {
            php_error_docref(NULL, E_WARNING, "cacheclient session: unknown save_path option \"%s\"", pair);
            efree(qs);
            return FAILURE;
        }
    }
    efree(qs);
    return SUCCESS;
}

PS_OPEN_FUNC(cacheclient)
{
    zend_string *socket = NULL;
    zval opts;
    (void)session_name;
    if (_parse_save_path(save_path, &socket, &opts) == FAILURE) {
        zval_ptr_dtor(&opts);
        if (socket)
            zend_string_release(socket);
        return FAILURE;
    }
    php_cc_sess *s = ecalloc(1, sizeof(*s));
    zend_result r = php_cc_core_init(&s->core, socket, Z_ARRVAL(opts), "cacheclient session");
    zval_ptr_dtor(&opts);
    if (socket)
        zend_string_release(socket);
    if (r == FAILURE) {
        efree(s);
        return FAILURE;
    }
    PS_SET_MOD_DATA(s);
    _active = s;
    return SUCCESS;
}

/* ---- locking ---- */

static uint64_t _lock_expire_ms(void)
{
    zend_long s = CCG(session_lock_expire);
    if (s <= 0) {
        zend_long met = zend_ini_long("max_execution_time", sizeof("max_execution_time") - 1, 0);
        s = met > 0 ? met : 30;
    }
    return (uint64_t)s * 1000;
}

static void _new_token(php_cc_sess *s)
{
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        uint64_t a = _now_us(), b = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
        memcpy(rnd, &a, 8);
        memcpy(rnd + 8, &b, 8);
    }
    for (int i = 0; i < 16; i++) {
        static const char hex[] = "0123456789abcdef";
        s->token[2 * i] = hex[rnd[i] >> 4];
        s->token[2 * i + 1] = hex[rnd[i] & 15];
    }
    s->token[32] = '\0';
}

/* Take the lock of id, waiting up to cacheclient.session_lock_wait seconds. */
static zend_result _lock(php_cc_sess *s, zend_string *id)
{
    zend_string *lk = _key(s, id, PHP_CC_LOCK_SUFFIX);
    double wait_s = CCG(session_lock_wait);
    uint64_t deadline = _now_us() + (uint64_t)(wait_s > 0 ? wait_s * 1e6 : 0);
    uint64_t expire = _lock_expire_ms();
    uint32_t backoff = PHP_CC_BACKOFF_MIN_US;
    int quick = 0;
    cc_value tokv;
    int st;

    _new_token(s);
    tokv = cc_value_bytes(s->token, 32);
    for (;;) {
        uint64_t version = 0;
        cc_client *c = _begin(s, false);
        if (!c)
            goto fail;
        st = cc_set(c, ZSTR_VAL(lk), ZSTR_LEN(lk), &tokv, expire, CC_SET_NX, 0, &version);
        if (st == CC_NOT_STORED) {
            /* Held, or released ("") and not yet expired: take a released lock by CAS. */
            cc_item item = {0};
            PHP_CC_RUN(st, true, cc_get(c, ZSTR_VAL(lk), ZSTR_LEN(lk), &item));
            if (st == CC_OK && item.value.type == CC_TYPE_BYTES && item.value.len == 0) {
                st = cc_set(c, ZSTR_VAL(lk), ZSTR_LEN(lk), &tokv, expire, 0, item.version, &version);
                if (st == CC_CAS_MISMATCH || st == CC_NOT_FOUND)
                    st = CC_NOT_STORED; /* someone else was faster */
            } else if (st == CC_OK || st == CC_NOT_FOUND) {
                st = st == CC_NOT_FOUND ? CC_NOT_FOUND : CC_NOT_STORED;
            }
            cc_item_release(&item);
        }
        _end(s);
        if (st == CC_OK) {
            s->locked = true;
            s->lock_key = lk;
            s->lock_version = version;
            return SUCCESS;
        }
        if (st != CC_NOT_STORED && st != CC_NOT_FOUND) {
            _warn_status(s, "cacheclient session lock", st);
            goto fail_quiet;
        }
        if (st == CC_NOT_FOUND && quick < 3) {
            quick++; /* it expired between our SET NX and GET: try again at once */
            continue;
        }
        quick = 0;
        uint64_t now = _now_us();
        if (now >= deadline) {
            php_error_docref(NULL, E_WARNING,
                             "cacheclient session: could not lock session %s within %.3f s "
                             "(cacheclient.session_lock_wait)", ZSTR_VAL(id), wait_s);
            goto fail_quiet;
        }
        uint32_t sleep_us = backoff - backoff / 4 + _rand32() % (backoff / 2 + 1);
        if (now + sleep_us > deadline)
            sleep_us = (uint32_t)(deadline - now);
        usleep(sleep_us);
        backoff = backoff * 2 > PHP_CC_BACKOFF_MAX_US ? PHP_CC_BACKOFF_MAX_US : backoff * 2;
    }
fail:
    php_cc_exception_to_warning("cacheclient session lock");
fail_quiet:
    zend_string_release(lk);
    return FAILURE;
}

/* Release by CAS: only the lock item we created is marked released. */
static void _unlock(php_cc_sess *s)
{
    if (!s->locked)
        return;
    s->locked = false;
    cc_client *c = _begin(s, true);
    if (c) {
        cc_value released = cc_value_bytes("", 0);
        int st = cc_set(c, ZSTR_VAL(s->lock_key), ZSTR_LEN(s->lock_key), &released,
                        PHP_CC_RELEASED_TTL_MS, 0, s->lock_version, NULL);
        _end(s);
        if (st != CC_OK && st != CC_CAS_MISMATCH && st != CC_NOT_FOUND)
            _warn_status(s, "cacheclient session unlock", st);
    } else {
        php_cc_exception_to_warning("cacheclient session unlock");
    }
    zend_string_release(s->lock_key);
    s->lock_key = NULL;
}

/* Last resort, after every module's request shutdown: no exceptions or warnings here. */
void php_cc_session_rshutdown(void)
{
    php_cc_sess *s = _active;
    _active = NULL;
    if (!s || !s->locked)
        return;
    php_cc_conn *conn = s->core.conn;
    if (conn && conn->client && !conn->in_flight && conn->fork_gen == php_cc_fork_gen) {
        cc_value released = cc_value_bytes("", 0);
        cc_set(conn->client, ZSTR_VAL(s->lock_key), ZSTR_LEN(s->lock_key), &released,
               PHP_CC_RELEASED_TTL_MS, 0, s->lock_version, NULL);
    }
    s->locked = false;
}

/* ---- the handler ---- */

PS_CLOSE_FUNC(cacheclient)
{
    php_cc_sess *s = PS_GET_MOD_DATA();
    if (!s)
        return SUCCESS;
    _unlock(s);
    php_cc_core_deinit(&s->core);
    if (_active == s)
        _active = NULL;
    efree(s);
    PS_SET_MOD_DATA(NULL);
    return SUCCESS;
}

PS_READ_FUNC(cacheclient)
{
    php_cc_sess *s = PS_GET_MOD_DATA();
    (void)maxlifetime;
    if (!s)
        return FAILURE;
    if (CCG(session_locking) && !s->locked && _lock(s, key) == FAILURE)
        return FAILURE;
    zend_string *k = _key(s, key, NULL);
    cc_client *c = _begin(s, true);
    if (!c) {
        zend_string_release(k);
        php_cc_exception_to_warning("cacheclient session read");
        return FAILURE;
    }
    cc_item item = {0};
    int st;
    PHP_CC_RUN(st, true, cc_get(c, ZSTR_VAL(k), ZSTR_LEN(k), &item));
    _end(s);
    zend_string_release(k);
    zend_result r = SUCCESS;
    if (st == CC_OK && (item.value.type == CC_TYPE_BYTES || item.value.type == CC_TYPE_STREAM))
        *val = zend_string_init((const char *)item.value.data, item.value.len, 0);
    else if (st == CC_NOT_FOUND)
        *val = ZSTR_EMPTY_ALLOC();
    else if (st == CC_OK) {
        php_error_docref(NULL, E_WARNING, "cacheclient session read: session %s is not a string",
                         ZSTR_VAL(key));
        r = FAILURE;
    } else {
        _warn_status(s, "cacheclient session read", st);
        r = FAILURE;
    }
    cc_item_release(&item);
    return r;
}

PS_WRITE_FUNC(cacheclient)
{
    php_cc_sess *s = PS_GET_MOD_DATA();
    if (!s)
        return FAILURE;
    zend_string *k = _key(s, key, NULL);
    cc_client *c = _begin(s, true);
    if (!c) {
        zend_string_release(k);
        php_cc_exception_to_warning("cacheclient session write");
        return FAILURE;
    }
    cc_value v = cc_value_bytes(ZSTR_VAL(val), ZSTR_LEN(val));
    int st;
    PHP_CC_RUN(st, true, cc_set(c, ZSTR_VAL(k), ZSTR_LEN(k), &v, _ttl_ms(maxlifetime), 0, 0, NULL));
    _end(s);
    zend_string_release(k);
    if (st != CC_OK) {
        _warn_status(s, "cacheclient session write", st);
        return FAILURE;
    }
    return SUCCESS;
}

PS_UPDATE_TIMESTAMP_FUNC(cacheclient)
{
    php_cc_sess *s = PS_GET_MOD_DATA();
    if (!s)
        return FAILURE;
    zend_string *k = _key(s, key, NULL);
    cc_client *c = _begin(s, true);
    if (!c) {
        zend_string_release(k);
        php_cc_exception_to_warning("cacheclient session update");
        return FAILURE;
    }
    int st;
    PHP_CC_RUN(st, true, cc_touch(c, ZSTR_VAL(k), ZSTR_LEN(k), _ttl_ms(maxlifetime)));
    if (st == CC_NOT_FOUND) { /* expired meanwhile: write it back */
        cc_value v = cc_value_bytes(ZSTR_VAL(val), ZSTR_LEN(val));
        PHP_CC_RUN(st, true, cc_set(c, ZSTR_VAL(k), ZSTR_LEN(k), &v, _ttl_ms(maxlifetime), 0, 0, NULL));
    }
    _end(s);
    zend_string_release(k);
    if (st != CC_OK) {
        _warn_status(s, "cacheclient session update", st);
        return FAILURE;
    }
    return SUCCESS;
}

PS_DESTROY_FUNC(cacheclient)
{
    php_cc_sess *s = PS_GET_MOD_DATA();
    if (!s)
        return FAILURE;
    zend_string *k = _key(s, key, NULL);
    cc_client *c = _begin(s, true);
    int st = CC_E_CONNECT;
    if (c) {
        const void *kp = ZSTR_VAL(k);
        size_t kl = ZSTR_LEN(k);
        uint64_t deleted;
        PHP_CC_RUN(st, true, cc_del(c, 1, &kp, &kl, &deleted));
        _end(s);
    }
    zend_string_release(k);
    _unlock(s);
    if (st != CC_OK) {
        _warn_status(s, "cacheclient session destroy", st);
        return FAILURE;
    }
    return SUCCESS;
}

PS_GC_FUNC(cacheclient)
{
    (void)mod_data;
    (void)maxlifetime;
    *nrdels = 0; /* sessions carry a TTL: the server expires them */
    return 0;
}

static bool _exists(php_cc_sess *s, zend_string *id, bool *exists)
{
    zend_string *k = _key(s, id, NULL);
    cc_client *c = _begin(s, true);
    int st = CC_E_CONNECT;
    uint64_t count = 0;
    if (c) {
        const void *kp = ZSTR_VAL(k);
        size_t kl = ZSTR_LEN(k);
        PHP_CC_RUN(st, true, cc_exists(c, 1, &kp, &kl, &count));
        _end(s);
    }
    zend_string_release(k);
    if (st != CC_OK) {
        _warn_status(s, "cacheclient session", st);
        return false;
    }
    *exists = count > 0;
    return true;
}

PS_CREATE_SID_FUNC(cacheclient)
{
    php_cc_sess *s = PS_GET_MOD_DATA();
    for (int i = 0; i < 3; i++) {
        zend_string *sid = php_session_create_id(mod_data);
        bool exists = false;
        if (!s || !sid || !_exists(s, sid, &exists) || !exists)
            return sid;
        zend_string_release(sid); /* collision: draw again */
    }
    php_error_docref(NULL, E_WARNING, "cacheclient session: could not create a unique session id");
    return NULL;
}

PS_VALIDATE_SID_FUNC(cacheclient)
{
    php_cc_sess *s = PS_GET_MOD_DATA();
    bool exists = false;
    if (!s || !_exists(s, key, &exists))
        return FAILURE;
    return exists ? SUCCESS : FAILURE;
}
