/* PHP values <-> protocol values: see cc_codec.h for the mapping. */
#include "php_cacheclient.h"

#include <math.h>
#include <msgpack.h>
#include <zstd.h>

#include "ext/standard/php_var.h"
#include "zend_enum.h"
#include "zend_exceptions.h"

/* The largest string a "@zstd" frame may claim to expand to. */
#define PHP_CC_ZSTD_MAX ((unsigned long long)1 << 30)

/* ---- codec options ---- */

void php_cc_codec_init(php_cc_codec *codec)
{
    codec->serializer = PHP_CC_SER_PHP;
    codec->compress_threshold = 0;
    codec->compress_level = PHP_CC_ZSTD_LEVEL_DEFAULT;
    ZVAL_TRUE(&codec->allowed_classes);
    codec->unserialize_opts = NULL;
}

void php_cc_codec_deinit(php_cc_codec *codec)
{
    zval_ptr_dtor(&codec->allowed_classes);
    ZVAL_TRUE(&codec->allowed_classes);
    if (codec->unserialize_opts) {
        zend_array_destroy(codec->unserialize_opts);
        codec->unserialize_opts = NULL;
    }
}

zend_result php_cc_codec_set_allowed_classes(php_cc_codec *codec, zval *allowed)
{
    ZVAL_DEREF(allowed);
    if (Z_TYPE_P(allowed) == IS_ARRAY) {
        zval *entry;
        ZEND_HASH_FOREACH_VAL(Z_ARRVAL_P(allowed), entry) {
            ZVAL_DEREF(entry);
            if (Z_TYPE_P(entry) != IS_STRING) {
                zend_type_error("CacheClient: option \"allowed_classes\" must list class names "
                                "as strings, %s given", zend_zval_type_name(entry));
                return FAILURE;
            }
        } ZEND_HASH_FOREACH_END();
    } else if (Z_TYPE_P(allowed) != IS_TRUE && Z_TYPE_P(allowed) != IS_FALSE) {
        zend_type_error("CacheClient: option \"allowed_classes\" must be of type array|bool, %s given",
                        zend_zval_type_name(allowed));
        return FAILURE;
    }
    php_cc_codec_deinit(codec);
    ZVAL_COPY(&codec->allowed_classes, allowed);
    if (Z_TYPE_P(allowed) != IS_TRUE) {
        codec->unserialize_opts = zend_new_array(1);
        Z_TRY_ADDREF_P(allowed);
        zend_hash_str_update(codec->unserialize_opts, "allowed_classes",
                             sizeof("allowed_classes") - 1, allowed);
    }
    return SUCCESS;
}

/* igbinary is optional: its PHP functions are looked up when first needed, so the
 * extension neither links against it nor requires it. */
static zend_function *_igb_serialize;
static zend_function *_igb_unserialize;
static bool _igb_looked_up;

bool php_cc_igbinary_available(void)
{
    if (!_igb_looked_up) {
        _igb_serialize = zend_hash_str_find_ptr(CG(function_table), "igbinary_serialize",
                                                sizeof("igbinary_serialize") - 1);
        _igb_unserialize = zend_hash_str_find_ptr(CG(function_table), "igbinary_unserialize",
                                                  sizeof("igbinary_unserialize") - 1);
        _igb_looked_up = true;
    }
    return _igb_serialize && _igb_unserialize;
}

static void _throw_ser(const char *fmt, ...) ZEND_ATTRIBUTE_FORMAT(printf, 1, 2);
static void _throw_ser(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    zend_string *msg = zend_vstrpprintf(0, fmt, ap);
    va_end(ap);
    zend_throw_exception(php_cc_serialization_exception_ce, ZSTR_VAL(msg), 0);
    zend_string_release(msg);
}

/* ---- encoding ---- */

/* Valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF)? Decides str vs bin. */
static bool _is_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII runs 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            unsigned char cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += need + 1;
    }
    return true;
}

static int _sbuf_write(void *data, const char *buf, size_t len)
{
    smart_str_appendl((smart_str *)data, buf, len);
    return 0;
}

static void _pack_bytes(msgpack_packer *pk, const char *p, size_t n)
{
    if (_is_utf8((const unsigned char *)p, n)) {
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, p, n);
    } else {
        msgpack_pack_bin(pk, n);
        msgpack_pack_bin_body(pk, p, n);
    }
}

typedef struct _enc {
    msgpack_packer pk;
    const php_cc_codec *codec;
} _enc;

static zend_result _encode(_enc *e, zval *zv, int depth);

/* Whether the msgpack serializer stores an object as the map of its properties: a user class
 * (or stdClass) whose whole state is its properties, as serialize() sees them. Objects that
 * serialize themselves (__serialize, Serializable, __sleep), enums, internal classes other
 * than stdClass and their subclasses (their state may live outside the properties) and
 * classes serialize() refuses (Closure, anonymous) keep serialize(). */
static bool _msgpack_serializable(zend_class_entry *ce)
{
    if (ce->ce_flags & (ZEND_ACC_ENUM | ZEND_ACC_NOT_SERIALIZABLE | ZEND_ACC_ANON_CLASS))
        return false;
    if (ce->__serialize || ce->serialize ||
        zend_hash_str_exists(&ce->function_table, "__sleep", sizeof("__sleep") - 1))
        return false;
    for (zend_class_entry *c = ce; c; c = c->parent)
        if (c->type == ZEND_INTERNAL_CLASS && c != zend_standard_class_def)
            return false;
    return true;
}

/* The msgpack map of an object's properties, named and chosen as serialize() does:
 * uninitialized typed properties are left out, protected ones are "\0*\0name", private
 * ones "\0Class\0name". */
static zend_result _encode_props(_enc *e, zval *zv, int depth)
{
    zend_string *key;
    zend_ulong idx;
    zval *val;
    uint32_t n = 0;
    HashTable *props = zend_get_properties_for(zv, ZEND_PROP_PURPOSE_SERIALIZE);
    if (props) {
        ZEND_HASH_FOREACH_VAL_IND(props, val) {
            (void)val;
            n++;
        } ZEND_HASH_FOREACH_END();
    }
    msgpack_pack_map(&e->pk, n);
    if (!props)
        return SUCCESS;
    zend_result rc = SUCCESS;
    ZEND_HASH_FOREACH_KEY_VAL_IND(props, idx, key, val) {
        if (key)
            _pack_bytes(&e->pk, ZSTR_VAL(key), ZSTR_LEN(key));
        else
            msgpack_pack_int64(&e->pk, (int64_t)(zend_long)idx);
        if (_encode(e, val, depth + 1) == FAILURE) {
            rc = FAILURE;
            break;
        }
    } ZEND_HASH_FOREACH_END();
    zend_release_properties(props);
    return rc;
}

/* Serialize one object: *cls is its class name, *data the serializer's output (owned by the
 * caller), *ser the serializer id. Enums always use serialize(): "E:len:"Class:Case";".
 * depth: how deep the object sits in the value (objects stored as msgpack maps count as a
 * level, so an object that contains itself is refused instead of recursing forever). */
static zend_result _serialize_object(const php_cc_codec *codec, zval *zv, int depth,
                                     zend_string **cls, zend_string **data, uint8_t *ser)
{
    zend_class_entry *ce = Z_OBJCE_P(zv);
    *cls = ce->name;
    if (codec->serializer == PHP_CC_SER_MSGPACK && _msgpack_serializable(ce)) {
        if (depth >= CC_MAX_VALUE_DEPTH) {
            zend_value_error("CacheClient: values nested deeper than %d levels cannot be stored "
                             "(or an object contains itself)", CC_MAX_VALUE_DEPTH);
            return FAILURE;
        }
        _enc e;
        smart_str buf = {0};
        e.codec = codec;
        msgpack_packer_init(&e.pk, &buf, _sbuf_write);
        if (_encode_props(&e, zv, depth) == FAILURE) {
            smart_str_free(&buf);
            return FAILURE;
        }
        *data = smart_str_extract(&buf);
        *ser = PHP_CC_SER_MSGPACK;
        return SUCCESS;
    }
    if (codec->serializer == PHP_CC_SER_IGBINARY && !(ce->ce_flags & ZEND_ACC_ENUM)) {
        zval ret;
        if (!php_cc_igbinary_available()) {
            _throw_ser("CacheClient: the igbinary serializer is not loaded");
            return FAILURE;
        }
        ZVAL_UNDEF(&ret);
        zend_call_known_function(_igb_serialize, NULL, NULL, &ret, 1, zv, NULL);
        if (EG(exception)) {
            zval_ptr_dtor(&ret);
            return FAILURE;
        }
        if (Z_TYPE(ret) != IS_STRING) {
            zval_ptr_dtor(&ret);
            _throw_ser("CacheClient: igbinary could not serialize an object of class %s",
                       ZSTR_VAL(ce->name));
            return FAILURE;
        }
        *data = Z_STR(ret);
        *ser = PHP_CC_SER_IGBINARY;
        return SUCCESS;
    }
    smart_str buf = {0};
    php_serialize_data_t vh;
    PHP_VAR_SERIALIZE_INIT(vh);
    php_var_serialize(&buf, zv, &vh);
    PHP_VAR_SERIALIZE_DESTROY(vh);
    if (EG(exception)) { /* Closure, anonymous class, __serialize throwing... */
        smart_str_free(&buf);
        return FAILURE;
    }
    if (!buf.s) {
        _throw_ser("CacheClient: could not serialize an object of class %s", ZSTR_VAL(ce->name));
        return FAILURE;
    }
    *data = smart_str_extract(&buf);
    *ser = PHP_CC_SER_PHP;
    return SUCCESS;
}

/* The ext payload of an object: [class:str, serializer:uint, data:bin]. */
static void _pack_object_payload(msgpack_packer *pk, const char *cls, size_t clen, uint8_t ser,
                                 const char *data, size_t dlen)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_str(pk, clen);
    msgpack_pack_str_body(pk, cls, clen);
    msgpack_pack_uint8(pk, ser);
    msgpack_pack_bin(pk, dlen);
    msgpack_pack_bin_body(pk, data, dlen);
}

static zend_result _encode_object(_enc *e, zval *zv, int depth)
{
    zend_string *cls, *data;
    uint8_t ser;
    if (_serialize_object(e->codec, zv, depth, &cls, &data, &ser) == FAILURE)
        return FAILURE;
    smart_str payload = {0};
    msgpack_packer ppk;
    msgpack_packer_init(&ppk, &payload, _sbuf_write);
    _pack_object_payload(&ppk, ZSTR_VAL(cls), ZSTR_LEN(cls), ser, ZSTR_VAL(data), ZSTR_LEN(data));
    zend_string_release(data);
    msgpack_pack_ext(&e->pk, ZSTR_LEN(payload.s), CC_EXT_OBJECT);
    msgpack_pack_ext_body(&e->pk, ZSTR_VAL(payload.s), ZSTR_LEN(payload.s));
    smart_str_free(&payload);
    return SUCCESS;
}

static zend_result _encode_array(_enc *e, HashTable *ht, int depth)
{
    zval *val;
    zend_ulong idx;
    zend_string *key;
    if (depth >= CC_MAX_VALUE_DEPTH) {
        zend_value_error("CacheClient: arrays nested deeper than %d levels cannot be stored "
                         "(or the array contains itself)", CC_MAX_VALUE_DEPTH);
        return FAILURE;
    }
    uint32_t n = zend_hash_num_elements(ht);
    if (zend_array_is_list(ht)) {
        msgpack_pack_array(&e->pk, n);
        ZEND_HASH_FOREACH_VAL(ht, val) {
            if (_encode(e, val, depth + 1) == FAILURE)
                return FAILURE;
        } ZEND_HASH_FOREACH_END();
        return SUCCESS;
    }
    msgpack_pack_map(&e->pk, n);
    ZEND_HASH_FOREACH_KEY_VAL(ht, idx, key, val) {
        if (key)
            _pack_bytes(&e->pk, ZSTR_VAL(key), ZSTR_LEN(key));
        else
            msgpack_pack_int64(&e->pk, (int64_t)(zend_long)idx);
        if (_encode(e, val, depth + 1) == FAILURE)
            return FAILURE;
    } ZEND_HASH_FOREACH_END();
    return SUCCESS;
}

static zend_result _encode(_enc *e, zval *zv, int depth)
{
    ZVAL_DEREF(zv);
    switch (Z_TYPE_P(zv)) {
    case IS_UNDEF:
    case IS_NULL:
        msgpack_pack_nil(&e->pk);
        return SUCCESS;
    case IS_FALSE:
        msgpack_pack_false(&e->pk);
        return SUCCESS;
    case IS_TRUE:
        msgpack_pack_true(&e->pk);
        return SUCCESS;
    case IS_LONG:
        msgpack_pack_int64(&e->pk, (int64_t)Z_LVAL_P(zv));
        return SUCCESS;
    case IS_DOUBLE:
        msgpack_pack_double(&e->pk, Z_DVAL_P(zv));
        return SUCCESS;
    case IS_STRING:
        _pack_bytes(&e->pk, Z_STRVAL_P(zv), Z_STRLEN_P(zv));
        return SUCCESS;
    case IS_ARRAY:
        return _encode_array(e, Z_ARRVAL_P(zv), depth);
    case IS_OBJECT:
        return _encode_object(e, zv, depth);
    default:
        zend_type_error("CacheClient: cannot store a value of type %s", zend_zval_type_name(zv));
        return FAILURE;
    }
}

zend_result php_cc_encode(const php_cc_codec *codec, zval *zv, php_cc_encoded *out)
{
    memset(out, 0, sizeof(*out));
    ZVAL_DEREF(zv);
    switch (Z_TYPE_P(zv)) {
    case IS_NULL:
        out->v = cc_value_null();
        return SUCCESS;
    case IS_FALSE:
    case IS_TRUE:
        out->v = cc_value_bool(Z_TYPE_P(zv) == IS_TRUE);
        return SUCCESS;
    case IS_LONG:
        out->v = cc_value_int((int64_t)Z_LVAL_P(zv));
        return SUCCESS;
    case IS_DOUBLE:
        out->v = cc_value_float(Z_DVAL_P(zv));
        return SUCCESS;
    case IS_STRING: {
        size_t n = Z_STRLEN_P(zv);
        if (codec->compress_threshold && n >= codec->compress_threshold) {
            size_t bound = ZSTD_compressBound(n);
            zend_string *z = zend_string_alloc(bound, 0);
            size_t clen = ZSTD_compress(ZSTR_VAL(z), bound, Z_STRVAL_P(zv), n,
                                         codec->compress_level);
            if (!ZSTD_isError(clen) && clen < n) {
                ZSTR_LEN(z) = clen;
                out->data = z;
                out->v = cc_value_object(PHP_CC_CLASS_ZSTD, sizeof(PHP_CC_CLASS_ZSTD) - 1,
                                         PHP_CC_SER_OPAQUE, ZSTR_VAL(z), clen);
                return SUCCESS;
            }
            zend_string_efree(z); /* incompressible: store as is */
        }
        out->v = cc_value_bytes(Z_STRVAL_P(zv), n);
        return SUCCESS;
    }
    case IS_ARRAY: {
        _enc e;
        e.codec = codec;
        smart_str_alloc(&out->buf, 256, 0);
        msgpack_packer_init(&e.pk, &out->buf, _sbuf_write);
        if (_encode_array(&e, Z_ARRVAL_P(zv), 0) == FAILURE) {
            smart_str_free(&out->buf);
            return FAILURE;
        }
        bool list = zend_array_is_list(Z_ARRVAL_P(zv));
        out->v = cc_value_msgpack(list ? CC_TYPE_ARRAY : CC_TYPE_MAP, ZSTR_VAL(out->buf.s),
                                  ZSTR_LEN(out->buf.s));
        return SUCCESS;
    }
    case IS_OBJECT: {
        zend_string *cls;
        uint8_t ser;
        if (_serialize_object(codec, zv, 0, &cls, &out->data, &ser) == FAILURE)
            return FAILURE;
        out->v = cc_value_object(ZSTR_VAL(cls), ZSTR_LEN(cls), ser, ZSTR_VAL(out->data),
                                 ZSTR_LEN(out->data));
        return SUCCESS;
    }
    default:
        zend_type_error("CacheClient: cannot store a value of type %s", zend_zval_type_name(zv));
        return FAILURE;
    }
}

void php_cc_encoded_free(php_cc_encoded *e)
{
    smart_str_free(&e->buf);
    if (e->data) {
        zend_string_release(e->data);
        e->data = NULL;
    }
}

/* ---- decoding ---- */

static zend_result _unserialize_php(const php_cc_codec *codec, const char *data, size_t len,
                                    zval *out)
{
    ZVAL_NULL(out);
    php_unserialize_with_options(out, data, len, codec->unserialize_opts, "CacheClient");
    if (EG(exception)) {
        zval_ptr_dtor(out);
        ZVAL_UNDEF(out);
        return FAILURE;
    }
    if (Z_TYPE_P(out) == IS_FALSE && !(len == 4 && memcmp(data, "b:0;", 4) == 0)) {
        _throw_ser("CacheClient: corrupt serialize() data (%zu bytes)", len);
        return FAILURE;
    }
    return SUCCESS;
}

static zend_result _unserialize_igbinary(const php_cc_codec *codec, const char *cls,
                                         size_t clen, const char *data, size_t len, zval *out)
{
    if (!php_cc_igbinary_available()) {
        _throw_ser("CacheClient: a value of class %.*s was stored with igbinary, which is "
                   "not loaded", (int)clen, cls);
        return FAILURE;
    }
    if (codec->unserialize_opts) {
        /* igbinary has no allowed_classes: refuse rather than wake up unknown classes. */
        _throw_ser("CacheClient: a value of class %.*s was stored with igbinary, which cannot "
                   "honour allowed_classes", (int)clen, cls);
        return FAILURE;
    }
    zval arg;
    ZVAL_STRINGL(&arg, data, len);
    ZVAL_UNDEF(out);
    zend_call_known_function(_igb_unserialize, NULL, NULL, out, 1, &arg, NULL);
    zval_ptr_dtor(&arg);
    if (EG(exception)) {
        zval_ptr_dtor(out);
        ZVAL_UNDEF(out);
        return FAILURE;
    }
    if (Z_TYPE_P(out) == IS_FALSE || Z_TYPE_P(out) == IS_UNDEF) {
        _throw_ser("CacheClient: corrupt igbinary data (%zu bytes)", len);
        return FAILURE;
    }
    return SUCCESS;
}

static zend_result _decompress(const char *data, size_t len, zval *out)
{
    unsigned long long sz = ZSTD_getFrameContentSize(data, len);
    if (sz == ZSTD_CONTENTSIZE_ERROR || sz == ZSTD_CONTENTSIZE_UNKNOWN || sz > PHP_CC_ZSTD_MAX) {
        _throw_ser("CacheClient: corrupt or oversized zstd value");
        return FAILURE;
    }
    zend_string *s = zend_string_alloc((size_t)sz, 0);
    size_t n = ZSTD_decompress(ZSTR_VAL(s), (size_t)sz, data, len);
    if (ZSTD_isError(n) || n != sz) {
        zend_string_efree(s);
        _throw_ser("CacheClient: corrupt zstd value");
        return FAILURE;
    }
    ZSTR_VAL(s)[sz] = '\0';
    ZVAL_NEW_STR(out, s);
    return SUCCESS;
}

typedef struct _dec {
    const php_cc_codec *codec;
} _dec;

static zend_result _decode_mp(_dec *d, cc_reader *c, zval *out, int depth);

/* Serializer 3: data is the msgpack map of the properties (serialize()'s names). serialize()'s
 * object format is its array format behind O:len:"Class", so the map is decoded to an array
 * and the object built by unserialize() itself: allowed_classes, unknown classes
 * (__PHP_Incomplete_Class), typed and readonly properties, __unserialize()/__wakeup() and
 * dynamic properties behave exactly as for serializer 1. */
static zend_result _unserialize_msgpack(const php_cc_codec *codec, const char *cls, size_t clen,
                                        const char *data, size_t len, zval *out, int depth)
{
    cc_reader c;
    _dec d = {codec};
    zval props;
    cc_reader_init(&c, (const uint8_t *)data, len);
    if (cc_read_peek_type(&c) != CC_TYPE_MAP) {
        _throw_ser("CacheClient: an object of class %.*s stored with the msgpack serializer "
                   "holds no property map", (int)clen, cls);
        return FAILURE;
    }
    if (_decode_mp(&d, &c, &props, depth + 1) == FAILURE)
        return FAILURE;
    if (cc_reader_remaining(&c) != 0) {
        zval_ptr_dtor(&props);
        _throw_ser("CacheClient: trailing bytes after the properties of an object of class %.*s",
                   (int)clen, cls);
        return FAILURE;
    }
    smart_str arr = {0};
    php_serialize_data_t vh;
    PHP_VAR_SERIALIZE_INIT(vh);
    php_var_serialize(&arr, &props, &vh);
    PHP_VAR_SERIALIZE_DESTROY(vh);
    zval_ptr_dtor(&props);
    if (EG(exception)) {
        smart_str_free(&arr);
        return FAILURE;
    }
    if (!arr.s || ZSTR_LEN(arr.s) < 2 || ZSTR_VAL(arr.s)[0] != 'a') {
        smart_str_free(&arr);
        _throw_ser("CacheClient: could not rebuild an object of class %.*s", (int)clen, cls);
        return FAILURE;
    }
    smart_str buf = {0};
    smart_str_appendl(&buf, "O:", 2);
    smart_str_append_unsigned(&buf, clen);
    smart_str_appendl(&buf, ":\"", 2);
    smart_str_appendl(&buf, cls, clen);
    smart_str_appendc(&buf, '"');
    smart_str_appendl(&buf, ZSTR_VAL(arr.s) + 1, ZSTR_LEN(arr.s) - 1); /* ":N:{...}" */
    smart_str_free(&arr);
    smart_str_0(&buf);
    ZVAL_NULL(out);
    php_unserialize_with_options(out, ZSTR_VAL(buf.s), ZSTR_LEN(buf.s), codec->unserialize_opts,
                                 "CacheClient");
    smart_str_free(&buf);
    if (EG(exception)) {
        zval_ptr_dtor(out);
        ZVAL_UNDEF(out);
        return FAILURE;
    }
    if (Z_TYPE_P(out) != IS_OBJECT) {
        zval_ptr_dtor(out);
        ZVAL_UNDEF(out);
        _throw_ser("CacheClient: invalid class name or properties in an object of class %.*s "
                   "stored with the msgpack serializer", (int)clen, cls);
        return FAILURE;
    }
    return SUCCESS;
}

static zend_result _decode_object(const php_cc_codec *codec, const char *cls, size_t clen,
                                  uint64_t ser, const char *data, size_t len, zval *out,
                                  int depth)
{
    if (clen > 0 && cls[0] == '@') {
        if (clen == sizeof(PHP_CC_CLASS_ZSTD) - 1 && memcmp(cls, PHP_CC_CLASS_ZSTD, clen) == 0)
            return _decompress(data, len, out);
        if (clen == sizeof(PHP_CC_CLASS_STREAM) - 1 && memcmp(cls, PHP_CC_CLASS_STREAM, clen) == 0) {
            _throw_ser("CacheClient: this key holds a cache:// stream: read it with "
                       "fopen(\"cache://...\", \"r\")");
            return FAILURE;
        }
    }
    switch (ser) {
    case PHP_CC_SER_PHP:
        return _unserialize_php(codec, data, len, out);
    case PHP_CC_SER_IGBINARY:
        return _unserialize_igbinary(codec, cls, clen, data, len, out);
    case PHP_CC_SER_MSGPACK:
        if (depth >= 64) {
            _throw_ser("CacheClient: objects nested too deep in a value from the server");
            return FAILURE;
        }
        return _unserialize_msgpack(codec, cls, clen, data, len, out, depth);
    default:
        _throw_ser("CacheClient: cannot decode an object of class %.*s with serializer %" PRIu64,
                   (int)clen, cls, ser);
        return FAILURE;
    }
}

/* Map key as PHP would store it: ints stay ints, numeric strings become ints (as in any PHP
 * array), nil/bool/float follow PHP's array key rules; containers are refused. */
static zend_result _decode_map_entry(_dec *d, cc_reader *c, HashTable *ht, int depth)
{
    zval val;
    int64_t i;
    uint64_t u;
    const uint8_t *p;
    uint32_t n;
    bool b;
    double f;
    enum { K_INT, K_STR } kind;
    zend_long ikey = 0;
    const char *skey = NULL;
    size_t sklen = 0;
    char numbuf[24];

    switch (cc_read_peek_type(c)) {
    case CC_TYPE_INT:
        if (cc_read_int(c, &i)) {
            kind = K_INT;
            ikey = (zend_long)i;
        } else if (cc_read_uint(c, &u)) {
            kind = K_STR;
            sklen = (size_t)snprintf(numbuf, sizeof(numbuf), "%" PRIu64, u);
            skey = numbuf;
        } else {
            goto bad;
        }
        break;
    case CC_TYPE_BYTES:
        if (!cc_read_bytes(c, &p, &n))
            goto bad;
        kind = K_STR;
        skey = (const char *)p;
        sklen = n;
        break;
    case CC_TYPE_NULL:
        cc_read_nil(c);
        kind = K_STR;
        skey = "";
        break;
    case CC_TYPE_BOOL:
        cc_read_bool(c, &b);
        kind = K_INT;
        ikey = b;
        break;
    case CC_TYPE_FLOAT:
        cc_read_double(c, &f);
        kind = K_INT;
        ikey = zend_dval_to_lval(f);
        break;
    default:
        _throw_ser("CacheClient: a map key of this type cannot be a PHP array key");
        return FAILURE;
    }
    if (_decode_mp(d, c, &val, depth) == FAILURE)
        return FAILURE;
    if (kind == K_INT)
        zend_hash_index_update(ht, (zend_ulong)ikey, &val);
    else
        zend_symtable_str_update(ht, skey, sklen, &val);
    return SUCCESS;
bad:
    _throw_ser("CacheClient: malformed map key");
    return FAILURE;
}

static zend_result _decode_mp(_dec *d, cc_reader *c, zval *out, int depth)
{
    uint32_t n;
    int64_t i;
    uint64_t u;
    double f;
    bool b;
    const uint8_t *p;
    int8_t et;

    switch (cc_read_peek_type(c)) {
    case CC_TYPE_NULL:
        cc_read_nil(c);
        ZVAL_NULL(out);
        return SUCCESS;
    case CC_TYPE_BOOL:
        cc_read_bool(c, &b);
        ZVAL_BOOL(out, b);
        return SUCCESS;
    case CC_TYPE_INT:
        if (cc_read_int(c, &i)) {
            ZVAL_LONG(out, (zend_long)i);
            return SUCCESS;
        }
        if (cc_read_uint(c, &u)) { /* above PHP_INT_MAX: a float, as json_decode does */
            ZVAL_DOUBLE(out, (double)u);
            return SUCCESS;
        }
        break;
    case CC_TYPE_FLOAT:
        if (!cc_read_double(c, &f))
            break;
        ZVAL_DOUBLE(out, f);
        return SUCCESS;
    case CC_TYPE_BYTES:
        if (!cc_read_bytes(c, &p, &n))
            break;
        ZVAL_STRINGL_FAST(out, (const char *)p, n);
        return SUCCESS;
    case CC_TYPE_ARRAY:
        if (!cc_read_array(c, &n) || n > cc_reader_remaining(c) || depth >= 64)
            break;
        array_init_size(out, n);
        if (n)
            zend_hash_real_init_packed(Z_ARRVAL_P(out));
        for (uint32_t k = 0; k < n; k++) {
            zval val;
            if (_decode_mp(d, c, &val, depth + 1) == FAILURE) {
                zval_ptr_dtor(out);
                ZVAL_UNDEF(out);
                return FAILURE;
            }
            zend_hash_next_index_insert_new(Z_ARRVAL_P(out), &val);
        }
        return SUCCESS;
    case CC_TYPE_MAP:
        if (!cc_read_map(c, &n) || n > cc_reader_remaining(c) / 2 || depth >= 64)
            break;
        array_init_size(out, n);
        for (uint32_t k = 0; k < n; k++) {
            if (_decode_map_entry(d, c, Z_ARRVAL_P(out), depth + 1) == FAILURE) {
                zval_ptr_dtor(out);
                ZVAL_UNDEF(out);
                return FAILURE;
            }
        }
        return SUCCESS;
    case CC_TYPE_OBJECT: {
        uint32_t len, clen, dlen;
        const uint8_t *cls, *data;
        uint64_t ser;
        cc_reader pc;
        if (!cc_read_ext(c, &et, &p, &len) || et != CC_EXT_OBJECT)
            break;
        cc_reader_init(&pc, p, len);
        if (!cc_read_array(&pc, &n) || n != 3 || !cc_read_bytes(&pc, &cls, &clen) ||
            !cc_read_uint(&pc, &ser) || !cc_read_bytes(&pc, &data, &dlen))
            break;
        return _decode_object(d->codec, (const char *)cls, clen, ser, (const char *)data, dlen, out,
                              depth);
    }
    default:
        break;
    }
    if (!EG(exception))
        _throw_ser("CacheClient: malformed value from the server");
    return FAILURE;
}

zend_result php_cc_decode_msgpack(const php_cc_codec *codec, const uint8_t *data, size_t len,
                                  zval *out)
{
    cc_reader c;
    _dec d = {codec};
    cc_reader_init(&c, data, len);
    if (_decode_mp(&d, &c, out, 0) == FAILURE)
        return FAILURE;
    if (cc_reader_remaining(&c) != 0) {
        zval_ptr_dtor(out);
        ZVAL_UNDEF(out);
        _throw_ser("CacheClient: trailing bytes after a value from the server");
        return FAILURE;
    }
    return SUCCESS;
}

zend_result php_cc_decode(const php_cc_codec *codec, const cc_value *v, zval *out)
{
    switch (v->type) {
    case CC_TYPE_NULL:
        ZVAL_NULL(out);
        return SUCCESS;
    case CC_TYPE_BOOL:
        ZVAL_BOOL(out, v->b);
        return SUCCESS;
    case CC_TYPE_INT:
        if (v->is_uint)
            ZVAL_DOUBLE(out, (double)v->u);
        else
            ZVAL_LONG(out, (zend_long)v->i);
        return SUCCESS;
    case CC_TYPE_FLOAT:
        ZVAL_DOUBLE(out, v->f);
        return SUCCESS;
    case CC_TYPE_BYTES:
    case CC_TYPE_STREAM:
        ZVAL_STRINGL_FAST(out, (const char *)v->data, v->len);
        return SUCCESS;
    case CC_TYPE_ARRAY:
    case CC_TYPE_MAP:
        return php_cc_decode_msgpack(codec, v->data, v->len, out);
    case CC_TYPE_OBJECT:
        return _decode_object(codec, v->class_name, v->class_len, v->serializer,
                              (const char *)v->data, v->len, out, 0);
    default:
        _throw_ser("CacheClient: unknown value type %d from the server", v->type);
        return FAILURE;
    }
}
