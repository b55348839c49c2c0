/* JSON text <-> msgpack, for the values cache-cli reads from its command line and prints. */
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>

/* Deepest JSON nesting accepted (the protocol's value depth). */
#define JSON_MAX_DEPTH 32

/* Parse one JSON document (text[0..len)) and append its msgpack encoding to `out`.
 * Objects become maps (keys in order), arrays arrays, integers ints (uint64 above INT64_MAX),
 * other numbers floats. Returns 0, or -1 with a message in err (errlen bytes). */
int json_to_msgpack(const char *text, size_t len, msgpack_sbuffer *out, char *err, size_t errlen);

/* Print a msgpack object as JSON. Strings and bins become JSON strings: valid UTF-8 is kept,
 * other bytes are written as \u00XX. Map keys that are not strings are printed as strings;
 * non-finite floats print as the strings "NaN", "Infinity", "-Infinity"; an object value
 * (ext 1) prints as {"@class": ..., "@serializer": ..., "@data": ...}, where @data is a string,
 * except for serializer 3 (msgpack: @data is its map as JSON) and class "@zstd" (a string
 * compressed by a client: printed as the decompressed string). */
void json_print(FILE *out, const msgpack_object *o);

/* Objects of class "@zstd", serializer 0 (PHP's compression_threshold): data is one zstd
 * frame of a string. */
#define CLI_CLASS_ZSTD "@zstd"
#define CLI_SER_MSGPACK 3
/* The largest string cache-cli decompresses (as the PHP extension: 1 GiB). */
#define CLI_ZSTD_MAX ((unsigned long long)1 << 30)
int json_is_zstd(const char *cls, size_t clen, uint64_t ser);
/* Decompress one zstd frame into a malloc'd buffer (*out, *outlen; NUL-terminated). 0, or -1
 * when the frame is corrupt, has no content size or expands beyond CLI_ZSTD_MAX. */
int json_zstd_decompress(const void *data, size_t len, char **out, size_t *outlen);
/* Print an object's fields as JSON (see json_print). */
void json_print_object(FILE *out, const char *cls, size_t clen, uint64_t ser, const char *data,
                       size_t len);

/* Format a float so it reads back as the same double ("2.0", "1e+300"; "NaN", "Infinity",
 * "-Infinity" unquoted). */
void json_format_float(char *buf, size_t n, double d);

/* Print bytes as a JSON string (quotes included). */
void json_print_string(FILE *out, const char *s, size_t len);

#endif
