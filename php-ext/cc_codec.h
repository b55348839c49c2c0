/* PHP values <-> protocol values (docs/protocol.md "Keys, namespaces, values").
 *
 * Scalars, strings and arrays become the protocol's native types so that cache-cli and C
 * clients read what PHP wrote: null, bool, int, float (INF/NAN included), bytes, array (a
 * PHP list, keys 0..n-1 in order) and map (any other PHP array, int and string keys kept).
 * Nested strings are msgpack str when valid UTF-8, bin otherwise. Objects and enums become
 * the object type: ext 1 [class, serializer, data] with serializer 1 (serialize()), 2
 * (igbinary) or 3 (msgpack: data is the msgpack map of the properties as serialize() names
 * them, "\0*\0prop" for protected and "\0Class\0prop" for private ones, so C and cache-cli
 * decode it; read back through unserialize()'s own object rules). Classes whose names start
 * with '@' are the extension's own encodings:
 *   "@zstd"    serializer 0, data = one zstd frame of a string (compression_threshold)
 *   "@stream"  serializer 0, data = the key holding a cache:// stream's bytes
 * Encoding uses msgpack-c's packer, decoding libcacheclient's value reader (cc_reader in
 * cacheclient.h). */
#ifndef PHP_CC_CODEC_H
#define PHP_CC_CODEC_H

#include "php.h"
#include "zend_smart_str.h"
#include "cacheclient.h"

#define PHP_CC_SER_OPAQUE 0
#define PHP_CC_SER_PHP 1
#define PHP_CC_SER_IGBINARY 2
#define PHP_CC_SER_MSGPACK 3

/* zstd levels for compression_level: the range accepted and the default. */
#define PHP_CC_ZSTD_LEVEL_MIN 1
#define PHP_CC_ZSTD_LEVEL_MAX 19
#define PHP_CC_ZSTD_LEVEL_DEFAULT 3

#define PHP_CC_CLASS_ZSTD "@zstd"
#define PHP_CC_CLASS_STREAM "@stream"

typedef struct php_cc_codec {
    uint8_t serializer;           /* PHP_CC_SER_PHP, _IGBINARY or _MSGPACK, for writing */
    size_t compress_threshold;    /* strings of at least this many bytes are compressed; 0 = off */
    int compress_level;           /* zstd level, PHP_CC_ZSTD_LEVEL_MIN..MAX */
    zval allowed_classes;         /* true, false or an array of class names (unserialize()'s option) */
    HashTable *unserialize_opts;  /* ['allowed_classes' => ...]; NULL when every class is allowed */
} php_cc_codec;

/* A value ready for cc_set & co: v points into the zval being stored or into buf/data,
 * which live until php_cc_encoded_free. */
typedef struct php_cc_encoded {
    cc_value v;
    smart_str buf;     /* msgpack of an array, or the compressed bytes */
    zend_string *data; /* serialized object */
} php_cc_encoded;

void php_cc_codec_init(php_cc_codec *codec);
void php_cc_codec_deinit(php_cc_codec *codec);
/* allowed: true, false or array of class names; TypeError otherwise. */
zend_result php_cc_codec_set_allowed_classes(php_cc_codec *codec, zval *allowed);
/* Whether igbinary is loaded in this process. */
bool php_cc_igbinary_available(void);

/* Encode zv for storing. On failure an exception is pending (ValueError for nesting deeper
 * than the protocol allows, TypeError for a resource, the serializer's own exception for a
 * Closure) and out needs no freeing. zv must stay alive until out is freed. */
zend_result php_cc_encode(const php_cc_codec *codec, zval *zv, php_cc_encoded *out);
void php_cc_encoded_free(php_cc_encoded *e);

/* Decode a value read from the server into out (undefined on failure, with a
 * CacheClientSerializationException pending). Never returns the raw bytes of something
 * it cannot decode. */
zend_result php_cc_decode(const php_cc_codec *codec, const cc_value *v, zval *out);

/* Decode a msgpack map/array encoding (STATS replies and the like) into out. */
zend_result php_cc_decode_msgpack(const php_cc_codec *codec, const uint8_t *data, size_t len,
                                  zval *out);

#endif
