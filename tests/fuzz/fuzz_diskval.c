/* libFuzzer target: the on-disk value decoder (cacheserverd/disk/diskval.c), which reads
 * what a disk tier returns: a record written by an older build, a damaged file, or anything
 * RocksDB hands back.
 *
 * The input is decoded as the server does (diskval_decode with now = 0 as the readers do,
 * and at a fixed clock as the restore does; diskval_peek as the index and compaction filter
 * do; diskval_why as the log line does). A random header almost never carries a right
 * checksum, so the input is decoded a second time with its stored length and CRC-32C
 * rewritten to match, which takes the fuzzer into the payload and the zstd paths. A value
 * that decodes is encoded again (raw and compressed) and must decode to the same fields and
 * bytes (a counter's state too): a mismatch abort()s. The crasher of the first counter-state
 * run (tests/fuzz/regress/diskval) is a record whose flag says "state follows" with an
 * empty state: decoded, its value is two bytes shorter than the header says. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "diskval.h"

#define NOW_MS 1700000000000ull /* a fixed clock: replays must be reproducible */

static volatile uint64_t sink;

static void _fail(const char *what)
{
    fprintf(stderr, "fuzz_diskval: %s\n", what);
    abort();
}

static void _put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void _touch(const uint8_t *d, size_t len)
{
    uint64_t s = 0;
    for (size_t i = 0; i < len; i++)
        s += d[i];
    sink += s;
}

/* Encode v again with these options and check it decodes to v. */
static void _roundtrip(const struct diskval *v, int level, size_t threshold)
{
    struct diskval_opts o = {.zstd_level = level, .compress_threshold = threshold};
    uint8_t *enc = NULL, *owned = NULL;
    size_t elen;
    bool comp;
    struct diskval back;
    if (diskval_encode(v, &o, &enc, &elen, &comp) != DISKVAL_OK)
        _fail("diskval_encode refused a decoded value");
    if (diskval_why(enc, elen) != NULL)
        _fail("diskval_why refuses what diskval_encode wrote");
    int st = diskval_decode(enc, elen, 0, &back, &owned);
    if (st != DISKVAL_OK)
        _fail("diskval_decode refuses what diskval_encode wrote");
    if (back.type != v->type || back.expire_ms != v->expire_ms || back.version != v->version ||
        back.hlc != v->hlc || back.len != v->len || (v->len && memcmp(back.data, v->data, v->len)))
        _fail("encode then decode changed the value");
    if (back.ctr_len != v->ctr_len || (v->ctr_len && memcmp(back.ctr, v->ctr, v->ctr_len)))
        _fail("encode then decode changed the counter state");
    /* the header's length is the payload's: a counter state and its length follow the value */
    struct diskval peek;
    size_t plen = v->len + (v->ctr_len ? (size_t)v->ctr_len + 2 : 0);
    if (!diskval_peek(enc, elen, &peek) || peek.len != plen || peek.version != v->version)
        _fail("diskval_peek disagrees with diskval_decode");
    free(owned);
    free(enc);
}

/* Decode buf every way the server reads records. */
static void _decode(const uint8_t *buf, size_t len, bool roundtrip)
{
    struct diskval v, peek;
    uint8_t *owned = NULL;
    const char *why = diskval_why(buf, len);
    bool peeked = diskval_peek(buf, len, &peek);
    sink += diskval_expired(buf, len, NOW_MS);
    if (why)
        sink += strlen(why);

    int st = diskval_decode(buf, len, NOW_MS, &v, &owned);
    if (st == DISKVAL_OK || st == DISKVAL_EXPIRED) {
        if (why)
            _fail("diskval_why refuses a record diskval_decode accepts");
        if (!peeked || peek.type != v.type || peek.expire_ms != v.expire_ms)
            _fail("diskval_peek disagrees with diskval_decode");
    }
    if (st == DISKVAL_OK)
        _touch(v.data, v.len);
    free(owned);
    owned = NULL;

    st = diskval_decode(buf, len, 0, &v, &owned);
    if (st == DISKVAL_OK) {
        _touch(v.data, v.len);
        if (roundtrip) {
            _roundtrip(&v, 1, 1u << 30); /* raw */
            _roundtrip(&v, 3, 0);        /* compressed when it pays */
        }
    } else if (owned) {
        _fail("diskval_decode failed but handed back a buffer");
    }
    free(owned);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _decode(data, size, true);
    if (size < DISKVAL_HEADER)
        return 0;
    /* the same record with its stored length and checksum made right */
    uint8_t *fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    _put32(fixed + 36, (uint32_t)(size - DISKVAL_HEADER));
    _put32(fixed + 4, crc32c(crc32c(0, fixed, 4), fixed + 8, size - 8));
    _decode(fixed, size, true);
    free(fixed);
    return 0;
}
