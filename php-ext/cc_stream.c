/* The cache:// stream wrapper. 'w' streams are written in chunks and published atomically
 * on fclose; 'r' streams are read in ranged chunks (GETRANGE), never whole.
 *
 * A stream that fits in one chunk is stored as a plain bytes value. A larger one is
 * APPENDed to a hidden data key (cc_stream.h) that expires an hour after it was started,
 * and fclose then gives the data key its final TTL and publishes, with CAS, a small
 * "@stream" manifest at the key: readers see the old value or the new one, never a partial
 * one. A replaced stream's data key is left to expire PHP_CC_STREAM_GRACE_MS later, so
 * readers already in it can finish.
 *
 * Context options ("cache" => [...]): client (a CacheClient to use), socket and options (to
 * make one otherwise), ttl (seconds), chunk_size (bytes). Failures are warnings and false
 * returns, as with files; include of a cache:// URL is always refused. */
#include "php_cacheclient.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "ext/standard/file.h"
#include "ext/standard/php_filestat.h"
#include "zend_exceptions.h"

#include "cc_stream.h"

#define PHP_CC_STREAM_SCHEME "cache://"
#define PHP_CC_STREAM_CHUNK (1024 * 1024)
#define PHP_CC_STREAM_WRITE_TTL_MS (3600u * 1000u)
#define PHP_CC_STREAM_GRACE_MS (30u * 1000u)

typedef struct php_cc_stream {
    zval client;       /* the CacheClient in use */
    zend_string *key;  /* raw key, with the client's prefix */
    size_t chunk_size;
    bool writing;
    /* reading */
    zend_string *src;  /* key holding the bytes (the key itself or a data key) */
    zend_string *mem;  /* or the whole (decompressed) value in memory */
    uint64_t size;
    uint64_t pos;
    zend_string *chunk; /* bytes [chunk_off, chunk_off + len) */
    uint64_t chunk_off;
    /* writing */
    smart_str wbuf;
    zend_string *data_key; /* created on the first full chunk */
    uint64_t written;
    uint64_t ttl_ms;
    bool failed;
} php_cc_stream;

static php_stream_wrapper _wrapper;

static inline php_cc_core *_core(php_cc_stream *s) { return &Z_CC_CLIENT_P(&s->client)->core; }

/* Report a failure as a warning naming the key (a pending CacheClientException, e.g. from
 * a failed connect, is turned into that warning). */
static void _warn(const char *key, size_t klen, int st, php_cc_conn *conn)
{
    if (EG(exception)) {
        zend_string *what = zend_strpprintf(0, "cache://%.*s", (int)klen, key);
        php_cc_exception_to_warning(ZSTR_VAL(what));
        zend_string_release(what);
        return;
    }
    const char *msg = conn && conn->client ? cc_errmsg(conn->client) : "";
    php_error_docref(NULL, E_WARNING, "cache://%.*s: %s: %s", (int)klen, key, cc_status_name(st),
                     msg && *msg ? msg : cc_status_message(st));
}

static cc_client *_begin(php_cc_core *core, bool replayable)
{
    return php_cc_conn_begin(core->conn, ZSTR_VAL(core->ns), ZSTR_LEN(core->ns), replayable);
}

/* The CacheClient for a URL: the context's "client", or a new one from its "socket" and
 * "options". FAILURE with an exception pending (a bad option) or a warning. */
static zend_result _client_for(php_stream_context *ctx, zval *out)
{
    if (!ctx)
        ctx = FG(default_context); /* stat() and friends pass no context */
    zval *c = ctx ? php_stream_context_get_option(ctx, "cache", "client") : NULL;
    if (c) {
        if (Z_TYPE_P(c) != IS_OBJECT || !instanceof_function(Z_OBJCE_P(c), php_cc_client_ce) ||
            !Z_CC_CLIENT_P(c)->initialized) {
            zend_type_error("cache://: context option \"client\" must be a CacheClient");
            return FAILURE;
        }
        ZVAL_COPY(out, c);
        return SUCCESS;
    }
    zval *sock = ctx ? php_stream_context_get_option(ctx, "cache", "socket") : NULL;
    zval *opts = ctx ? php_stream_context_get_option(ctx, "cache", "options") : NULL;
    if (sock && Z_TYPE_P(sock) != IS_STRING) {
        zend_type_error("cache://: context option \"socket\" must be a string");
        return FAILURE;
    }
    if (opts && Z_TYPE_P(opts) != IS_ARRAY) {
        zend_type_error("cache://: context option \"options\" must be an array");
        return FAILURE;
    }
    object_init_ex(out, php_cc_client_ce);
    php_cc_client *cli = Z_CC_CLIENT_P(out);
    if (php_cc_core_init(&cli->core, sock ? Z_STR_P(sock) : NULL, opts ? Z_ARRVAL_P(opts) : NULL,
                         "cache://") == FAILURE) {
        zval_ptr_dtor(out);
        ZVAL_UNDEF(out);
        return FAILURE;
    }
    cli->initialized = true;
    return SUCCESS;
}

/* "cache://key" -> key (raw, after the scheme). */
static zend_result _url_key(const char *url, const char **key, size_t *len)
{
    size_t sl = sizeof(PHP_CC_STREAM_SCHEME) - 1;
    if (strncasecmp(url, PHP_CC_STREAM_SCHEME, sl) != 0 || url[sl] == '\0') {
        php_error_docref(NULL, E_WARNING, "%s: expected cache://<key>", url);
        return FAILURE;
    }
    *key = url + sl;
    *len = strlen(url + sl);
    return SUCCESS;
}

static zend_string *_prefixed(php_cc_core *core, const char *key, size_t len)
{
    if (!core->prefix)
        return zend_string_init(key, len, 0);
    return zend_string_concat2(ZSTR_VAL(core->prefix), ZSTR_LEN(core->prefix), key, len);
}

static bool _is_class(const cc_value *v, const char *cls)
{
    size_t n = strlen(cls);
    return v->type == CC_TYPE_OBJECT && v->class_len == n && memcmp(v->class_name, cls, n) == 0;
}

/* What is stored at key, for reading: src/size for bytes, streams and manifests, mem for a
 * compressed string. CC_OK, CC_NOT_FOUND, CC_E_TYPE (not readable as bytes) or an error. */
static int _resolve(php_cc_core *core, zend_string *key, zend_string **src, zend_string **mem,
                    uint64_t *size)
{
    cc_client *c = _begin(core, true);
    if (!c)
        return CC_E_CONNECT;
    int st;
    uint64_t len = 0;
    *src = NULL;
    *mem = NULL;
    PHP_CC_RUN(st, true, cc_strlen(c, ZSTR_VAL(key), ZSTR_LEN(key), &len));
    if (st == CC_OK) {
        *src = zend_string_copy(key);
        *size = len;
    } else if (st == CC_E_TYPE) {
        cc_item item = {0};
        PHP_CC_RUN(st, true, cc_get(c, ZSTR_VAL(key), ZSTR_LEN(key), &item));
        if (st == CC_OK && _is_class(&item.value, PHP_CC_CLASS_STREAM)) {
            zend_string *dk = zend_string_init((const char *)item.value.data, item.value.len, 0);
            PHP_CC_RUN(st, true, cc_strlen(c, ZSTR_VAL(dk), ZSTR_LEN(dk), &len));
            if (st == CC_OK) {
                *src = dk;
                *size = len;
            } else {
                zend_string_release(dk);
            }
        } else if (st == CC_OK && _is_class(&item.value, PHP_CC_CLASS_ZSTD)) {
            php_cc_conn_end(core->conn);
            zval zv;
            if (php_cc_decode(&core->codec, &item.value, &zv) == FAILURE) {
                cc_item_release(&item);
                return CC_E_BAD_REPLY;
            }
            *mem = Z_STR(zv);
            *size = ZSTR_LEN(*mem);
        } else if (st == CC_OK) {
            st = CC_E_TYPE;
        }
        cc_item_release(&item);
    }
    php_cc_conn_end(core->conn);
    return st;
}

/* ---- reading ---- */

static ssize_t _read(php_stream *stream, char *buf, size_t count)
{
    php_cc_stream *s = stream->abstract;
    if (s->writing)
        return -1;
    if (s->pos >= s->size) {
        stream->eof = 1;
        return 0;
    }
    if (s->mem) {
        size_t n = MIN(count, (size_t)(s->size - s->pos));
        memcpy(buf, ZSTR_VAL(s->mem) + s->pos, n);
        s->pos += n;
        return (ssize_t)n;
    }
    if (!s->chunk || s->pos < s->chunk_off || s->pos >= s->chunk_off + ZSTR_LEN(s->chunk)) {
        php_cc_core *core = _core(s);
        cc_client *c = _begin(core, true);
        if (!c) {
            _warn(ZSTR_VAL(s->key), ZSTR_LEN(s->key), CC_E_CONNECT, core->conn);
            return -1;
        }
        cc_item item = {0};
        int st;
        PHP_CC_RUN(st, true, cc_getrange(c, ZSTR_VAL(s->src), ZSTR_LEN(s->src), s->pos,
                                         s->chunk_size, &item));
        php_cc_conn_end(core->conn);
        if (st != CC_OK) {
            cc_item_release(&item);
            _warn(ZSTR_VAL(s->key), ZSTR_LEN(s->key), st, core->conn);
            return -1;
        }
        if (s->chunk)
            zend_string_release(s->chunk);
        s->chunk = zend_string_init((const char *)item.value.data, item.value.len, 0);
        s->chunk_off = s->pos;
        cc_item_release(&item);
        if (ZSTR_LEN(s->chunk) == 0) { /* the value shrank under us */
            s->size = s->pos;
            stream->eof = 1;
            return 0;
        }
    }
    size_t avail = (size_t)(s->chunk_off + ZSTR_LEN(s->chunk) - s->pos);
    size_t n = MIN(count, avail);
    memcpy(buf, ZSTR_VAL(s->chunk) + (s->pos - s->chunk_off), n);
    s->pos += n;
    return (ssize_t)n;
}

static int _seek(php_stream *stream, zend_off_t offset, int whence, zend_off_t *newoff)
{
    php_cc_stream *s = stream->abstract;
    int64_t base;
    if (s->writing)
        return -1;
    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)s->pos; break;
    case SEEK_END: base = (int64_t)s->size; break;
    default: return -1;
    }
    int64_t to = base + (int64_t)offset;
    if (to < 0)
        return -1;
    s->pos = (uint64_t)to;
    *newoff = (zend_off_t)to;
    stream->eof = 0;
    return 0;
}

static int _stat(php_stream *stream, php_stream_statbuf *ssb)
{
    php_cc_stream *s = stream->abstract;
    memset(ssb, 0, sizeof(*ssb));
    ssb->sb.st_mode = S_IFREG | 0644;
    ssb->sb.st_size = (zend_off_t)(s->writing ? s->written + (s->wbuf.s ? ZSTR_LEN(s->wbuf.s) : 0)
                                              : s->size);
    ssb->sb.st_nlink = 1;
    return 0;
}

/* ---- writing ---- */

static zend_string *_new_data_key(zend_string *key)
{
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        static uint64_t seq;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t t = ((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32)) + ++seq;
        memcpy(rnd, &t, sizeof(rnd));
    }
    zend_string *dk = zend_string_alloc(ZSTR_LEN(key) + PHP_CC_STREAM_DATA_MARK_LEN + 16, 0);
    char *w = ZSTR_VAL(dk);
    memcpy(w, ZSTR_VAL(key), ZSTR_LEN(key));
    w += ZSTR_LEN(key);
    memcpy(w, PHP_CC_STREAM_DATA_MARK, PHP_CC_STREAM_DATA_MARK_LEN);
    w += PHP_CC_STREAM_DATA_MARK_LEN;
    for (int i = 0; i < 8; i++) {
        static const char hex[] = "0123456789abcdef";
        *w++ = hex[rnd[i] >> 4];
        *w++ = hex[rnd[i] & 15];
    }
    *w = '\0';
    return dk;
}

/* APPEND the buffered bytes to the data key. */
static bool _flush_chunk(php_cc_stream *s)
{
    if (!s->wbuf.s || ZSTR_LEN(s->wbuf.s) == 0)
        return true;
    php_cc_core *core = _core(s);
    if (!s->data_key)
        s->data_key = _new_data_key(s->key);
    cc_client *c = _begin(core, false);
    if (!c) {
        _warn(ZSTR_VAL(s->key), ZSTR_LEN(s->key), CC_E_CONNECT, core->conn);
        return false;
    }
    uint64_t len = 0;
    int st = cc_append(c, ZSTR_VAL(s->data_key), ZSTR_LEN(s->data_key), ZSTR_VAL(s->wbuf.s),
                       ZSTR_LEN(s->wbuf.s), PHP_CC_STREAM_WRITE_TTL_MS, &len);
    php_cc_conn_end(core->conn);
    if (st != CC_OK) {
        _warn(ZSTR_VAL(s->key), ZSTR_LEN(s->key), st, core->conn);
        return false;
    }
    if (len != s->written + ZSTR_LEN(s->wbuf.s)) {
        php_error_docref(NULL, E_WARNING, "cache://%s: the stream's data key changed under it",
                         ZSTR_VAL(s->key));
        return false;
    }
    s->written = len;
    ZSTR_LEN(s->wbuf.s) = 0;
    return true;
}

static ssize_t _write(php_stream *stream, const char *buf, size_t count)
{
    php_cc_stream *s = stream->abstract;
    if (!s->writing || s->failed)
        return -1;
    size_t done = 0;
    while (done < count) {
        size_t have = s->wbuf.s ? ZSTR_LEN(s->wbuf.s) : 0;
        size_t n = MIN(count - done, s->chunk_size - have);
        smart_str_appendl(&s->wbuf, buf + done, n);
        done += n;
        if (ZSTR_LEN(s->wbuf.s) >= s->chunk_size && !_flush_chunk(s)) {
            s->failed = true;
            return -1;
        }
    }
    return (ssize_t)count;
}

/* Store v at key in place of whatever is there (CAS loop), and let a replaced stream's data
 * key expire after the grace period. */
static int _publish(php_cc_core *core, zend_string *key, const cc_value *v, uint64_t ttl_ms)
{
    int st = CC_OK;
    for (int attempt = 0; attempt < 32; attempt++) {
        cc_client *c = _begin(core, false);
        if (!c)
            return CC_E_CONNECT;
        cc_item old = {0};
        zend_string *old_data = NULL;
        PHP_CC_RUN(st, true, cc_get(c, ZSTR_VAL(key), ZSTR_LEN(key), &old));
        if (st == CC_OK) {
            if (_is_class(&old.value, PHP_CC_CLASS_STREAM))
                old_data = zend_string_init((const char *)old.value.data, old.value.len, 0);
            st = cc_set(c, ZSTR_VAL(key), ZSTR_LEN(key), v, ttl_ms, 0, old.version, NULL);
        } else if (st == CC_NOT_FOUND) {
            st = cc_set(c, ZSTR_VAL(key), ZSTR_LEN(key), v, ttl_ms, CC_SET_NX, 0, NULL);
        } else if (st == CC_E_VALUE_TOO_LARGE) { /* a huge APPENDed value: not a manifest */
            st = cc_set(c, ZSTR_VAL(key), ZSTR_LEN(key), v, ttl_ms, 0, 0, NULL);
        }
        cc_item_release(&old);
        if (st == CC_OK && old_data) {
            cc_touch(c, ZSTR_VAL(old_data), ZSTR_LEN(old_data), PHP_CC_STREAM_GRACE_MS);
        }
        php_cc_conn_end(core->conn);
        if (old_data)
            zend_string_release(old_data);
        if (st != CC_CAS_MISMATCH && st != CC_NOT_STORED && st != CC_NOT_FOUND)
            return st;
    }
    return st;
}

static bool _finish_write(php_cc_stream *s)
{
    php_cc_core *core = _core(s);
    int st;
    if (!s->data_key) {
        /* One chunk or less: a plain bytes value. */
        const char *p = s->wbuf.s ? ZSTR_VAL(s->wbuf.s) : "";
        size_t n = s->wbuf.s ? ZSTR_LEN(s->wbuf.s) : 0;
        cc_value v = cc_value_bytes(p, n);
        st = _publish(core, s->key, &v, s->ttl_ms);
    } else {
        if (!_flush_chunk(s))
            return false;
        cc_client *c = _begin(core, true);
        if (!c) {
            _warn(ZSTR_VAL(s->key), ZSTR_LEN(s->key), CC_E_CONNECT, core->conn);
            return false;
        }
        PHP_CC_RUN(st, true, cc_touch(c, ZSTR_VAL(s->data_key), ZSTR_LEN(s->data_key), s->ttl_ms));
        php_cc_conn_end(core->conn);
        if (st == CC_OK) {
            cc_value v = cc_value_object(PHP_CC_CLASS_STREAM, sizeof(PHP_CC_CLASS_STREAM) - 1,
                                         PHP_CC_SER_OPAQUE, ZSTR_VAL(s->data_key),
                                         ZSTR_LEN(s->data_key));
            st = _publish(core, s->key, &v, s->ttl_ms);
        }
    }
    if (st != CC_OK) {
        _warn(ZSTR_VAL(s->key), ZSTR_LEN(s->key), st, core->conn);
        return false;
    }
    return true;
}

/* Drop the data key of a stream that will not be published. */
static void _abandon_write(php_cc_stream *s)
{
    if (!s->data_key)
        return;
    php_cc_core *core = _core(s);
    cc_client *c = _begin(core, true);
    if (!c) {
        zend_clear_exception();
        return;
    }
    const void *k = ZSTR_VAL(s->data_key);
    size_t kl = ZSTR_LEN(s->data_key);
    uint64_t deleted;
    cc_del(c, 1, &k, &kl, &deleted);
    php_cc_conn_end(core->conn);
}

static int _close(php_stream *stream, int close_handle)
{
    php_cc_stream *s = stream->abstract;
    int ret = 0;
    (void)close_handle;
    if (s->writing) {
        if (s->failed || !_finish_write(s)) {
            _abandon_write(s);
            ret = -1;
        }
    }
    zval_ptr_dtor(&s->client);
    zend_string_release(s->key);
    if (s->src)
        zend_string_release(s->src);
    if (s->mem)
        zend_string_release(s->mem);
    if (s->chunk)
        zend_string_release(s->chunk);
    if (s->data_key)
        zend_string_release(s->data_key);
    smart_str_free(&s->wbuf);
    efree(s);
    return ret;
}

static int _flush(php_stream *stream)
{
    (void)stream;
    return 0; /* a 'w' stream publishes on close only */
}

static const php_stream_ops _ops = {
    _write, _read, _close, _flush, "cache", _seek, NULL, _stat, NULL,
};

/* ---- wrapper ---- */

static php_stream *_open(php_stream_wrapper *wrapper, const char *url, const char *mode,
                         int options, zend_string **opened_path, php_stream_context *ctx
                         STREAMS_DC)
{
    const char *key;
    size_t klen;
    (void)opened_path;
    if (options & STREAM_OPEN_FOR_INCLUDE) {
        php_stream_wrapper_log_error(wrapper, options,
                                     "cache:// values cannot be included or required");
        return NULL;
    }
    bool writing;
    if (strcmp(mode, "r") == 0 || strcmp(mode, "rb") == 0)
        writing = false;
    else if (strcmp(mode, "w") == 0 || strcmp(mode, "wb") == 0)
        writing = true;
    else {
        php_stream_wrapper_log_error(wrapper, options,
                                     "cache:// streams open with mode r or w only, not \"%s\"", mode);
        return NULL;
    }
    if (_url_key(url, &key, &klen) == FAILURE)
        return NULL;

    uint64_t ttl_ms = 0;
    size_t chunk = PHP_CC_STREAM_CHUNK;
    if (ctx) {
        zval *t = php_stream_context_get_option(ctx, "cache", "ttl");
        if (t) {
            zval n;
            if (Z_TYPE_P(t) == IS_LONG || Z_TYPE_P(t) == IS_DOUBLE)
                ZVAL_COPY_VALUE(&n, t);
            else
                ZVAL_DOUBLE(&n, zval_get_double(t));
            if (php_cc_ttl_ms(&n, 0, &ttl_ms, NULL) == FAILURE)
                return NULL;
        }
        zval *cs = php_stream_context_get_option(ctx, "cache", "chunk_size");
        if (cs) {
            zend_long v = zval_get_long(cs);
            if (v < 4096 || v > 64 * 1024 * 1024) {
                zend_value_error("cache://: context option \"chunk_size\" must be 4096 .. 67108864 bytes");
                return NULL;
            }
            chunk = (size_t)v;
        }
    }

    php_cc_stream *s = ecalloc(1, sizeof(*s));
    if (_client_for(ctx, &s->client) == FAILURE) {
        efree(s);
        return NULL;
    }
    php_cc_core *core = _core(s);
    s->key = _prefixed(core, key, klen);
    s->chunk_size = chunk;
    s->writing = writing;
    s->ttl_ms = ttl_ms;
    if (!writing) {
        int st = _resolve(core, s->key, &s->src, &s->mem, &s->size);
        if (st != CC_OK) {
            if (st == CC_NOT_FOUND)
                php_stream_wrapper_log_error(wrapper, options, "cache://%s: no such key", key);
            else if (st == CC_E_TYPE)
                php_stream_wrapper_log_error(wrapper, options,
                                             "cache://%s: the value is not a string or stream", key);
            else
                _warn(key, klen, st, core->conn);
            zval_ptr_dtor(&s->client);
            zend_string_release(s->key);
            efree(s);
            return NULL;
        }
    }
    php_stream *stream = php_stream_alloc_rel(&_ops, s, NULL, writing ? "wb" : "rb");
    if (!writing)
        php_stream_set_chunk_size(stream, 65536);
    return stream;
}

static int _url_stat(php_stream_wrapper *wrapper, const char *url, int flags,
                     php_stream_statbuf *ssb, php_stream_context *ctx)
{
    const char *key;
    size_t klen;
    zval client;
    (void)wrapper;
    if (_url_key(url, &key, &klen) == FAILURE || _client_for(ctx, &client) == FAILURE)
        return -1;
    php_cc_core *core = &Z_CC_CLIENT_P(&client)->core;
    zend_string *k = _prefixed(core, key, klen), *src = NULL, *mem = NULL;
    uint64_t size = 0;
    int st = _resolve(core, k, &src, &mem, &size);
    int ret = -1;
    if (st == CC_OK || st == CC_E_TYPE) { /* E_TYPE: it exists, but is not bytes */
        memset(ssb, 0, sizeof(*ssb));
        ssb->sb.st_mode = S_IFREG | 0644;
        ssb->sb.st_size = (zend_off_t)size;
        ssb->sb.st_nlink = 1;
        ret = 0;
    } else if (st != CC_NOT_FOUND) {
        if (flags & PHP_STREAM_URL_STAT_QUIET)
            zend_clear_exception();
        else
            _warn(key, klen, st, core->conn);
    }
    if (src)
        zend_string_release(src);
    if (mem)
        zend_string_release(mem);
    zend_string_release(k);
    zval_ptr_dtor(&client);
    return ret;
}

static int _unlink(php_stream_wrapper *wrapper, const char *url, int options,
                   php_stream_context *ctx)
{
    const char *key;
    size_t klen;
    zval client;
    if (_url_key(url, &key, &klen) == FAILURE || _client_for(ctx, &client) == FAILURE)
        return 0;
    php_cc_core *core = &Z_CC_CLIENT_P(&client)->core;
    zend_string *k = _prefixed(core, key, klen);
    int ret = 0, st;
    cc_client *c = _begin(core, true);
    if (!c) {
        _warn(key, klen, CC_E_CONNECT, core->conn);
        goto out;
    }
    cc_item item = {0};
    const void *keys[2] = {ZSTR_VAL(k), NULL};
    size_t lens[2] = {ZSTR_LEN(k), 0};
    size_t n = 1;
    uint64_t deleted = 0;
    PHP_CC_RUN(st, true, cc_get(c, ZSTR_VAL(k), ZSTR_LEN(k), &item));
    if (st == CC_OK && _is_class(&item.value, PHP_CC_CLASS_STREAM)) {
        keys[1] = item.value.data;
        lens[1] = item.value.len;
        n = 2;
    }
    if (st == CC_OK || st == CC_E_VALUE_TOO_LARGE || st == CC_E_TYPE)
        PHP_CC_RUN(st, true, cc_del(c, n, keys, lens, &deleted));
    php_cc_conn_end(core->conn);
    cc_item_release(&item);
    if (st == CC_OK && deleted > 0) {
        ret = 1;
        /* as unlink() of a plain file does: file_exists() and friends must not answer from
         * the stat PHP cached before the delete */
        php_clear_stat_cache(1, NULL, 0);
    } else if (st == CC_OK || st == CC_NOT_FOUND)
        php_stream_wrapper_log_error(wrapper, options, "cache://%s: no such key", key);
    else
        _warn(key, klen, st, core->conn);
out:
    zend_string_release(k);
    zval_ptr_dtor(&client);
    return ret;
}

static const php_stream_wrapper_ops _wops = {
    _open, NULL, NULL, _url_stat, NULL, "cache", _unlink, NULL, NULL, NULL, NULL,
};

zend_result php_cc_stream_minit(int module_number)
{
    (void)module_number;
    _wrapper.wops = &_wops;
    _wrapper.abstract = NULL;
    _wrapper.is_url = 0; /* allow_url_fopen does not apply; include is refused by _open */
    return php_register_url_stream_wrapper("cache", &_wrapper);
}

void php_cc_stream_mshutdown(int module_number)
{
    (void)module_number;
    php_unregister_url_stream_wrapper("cache");
}
