/* The cache:// stream wrapper (cc_stream.c). */
#ifndef PHP_CC_STREAM_H
#define PHP_CC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A stream larger than one chunk keeps its bytes under a hidden data key,
 * "<key>" PHP_CC_STREAM_DATA_MARK "<16 hex digits>", and stores at <key> a manifest:
 * an object of class "@stream" whose data is the data key. */
#define PHP_CC_STREAM_DATA_MARK "\0cc-stream:"
#define PHP_CC_STREAM_DATA_MARK_LEN (sizeof(PHP_CC_STREAM_DATA_MARK) - 1)

/* Whether a raw key is the hidden data key of a stream (CacheClient::keys() skips them). */
static inline bool php_cc_stream_is_data_key(const char *k, size_t len)
{
    return len > PHP_CC_STREAM_DATA_MARK_LEN &&
           memmem(k, len, PHP_CC_STREAM_DATA_MARK, PHP_CC_STREAM_DATA_MARK_LEN) != NULL;
}

#endif
