/* The on-disk value format of the SSD and HDD tiers: a 40-byte header then the payload,
 * zstd-compressed when that pays. The header (little-endian):
 *    0 u8  format (1)          1 u8  value type (store's)   2 u8 flags (1 = zstd,
 *                                                          2 = counter state)     3 u8 0
 *    4 u32 CRC-32C of bytes 0..3 and 8..end (the rest of the header and the payload)
 *    8 u64 expiry, absolute unix ms (0 = none)   16 u64 version   24 u64 hlc stamp
 *   32 u32 length of the value                   36 u32 length of the payload as stored
 * With flag 2 the payload (before compression) is the value, a replicated counter's state
 * (store/counter.h), and the state's length (u16); the header's length is the payload's.
 * Every read verifies the checksum: a mismatch is reported, never returned as a value.
 * Little-endian on every host (what x86 builds always wrote); a header in the other byte
 * order fails the length and checksum checks, and diskval_why says so. */
#ifndef TIER_DISKVAL_H
#define TIER_DISKVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISKVAL_HEADER 40
#define DISKVAL_FORMAT 1
#define DISKVAL_ZSTD 1u
#define DISKVAL_CTR 2u
#define DISKVAL_CTR_MAX 65535u /* a counter state's bytes at most */

struct diskval {
    uint8_t type;
    uint64_t expire_ms;
    uint64_t version;
    uint64_t hlc;
    const uint8_t *data;
    size_t len;
    const uint8_t *ctr;  /* a replicated counter's state after the value, or NULL */
    uint32_t ctr_len;
};

struct diskval_opts {
    int zstd_level;              /* 1..19 */
    size_t compress_threshold;   /* values shorter than this are stored raw */
};

enum diskval_status {
    DISKVAL_OK = 0,
    DISKVAL_EXPIRED = 1,
    DISKVAL_CORRUPT = 2,  /* bad format, lengths or checksum */
    DISKVAL_NOMEM = 3,
};

/* Encode v into a malloc'd buffer. Compressed only when the value is at least the threshold
 * long and zstd saves an eighth or more (incompressible values are stored raw). */
int diskval_encode(const struct diskval *v, const struct diskval_opts *o, uint8_t **out,
                   size_t *outlen, bool *compressed);
/* Decode and verify buf. On DISKVAL_OK, out->data points into buf or, when the payload was
 * compressed, into *owned (malloc'd; the caller frees it; NULL otherwise). */
int diskval_decode(const uint8_t *buf, size_t len, uint64_t now_ms, struct diskval *out,
                   uint8_t **owned);
/* The header's type, expiry, version and hlc into out (data NULL, len the value's length:
 * with a counter state, the payload's),
 * without checking the checksum or decompressing (the compaction filter, a warm restart's
 * index). False when buf is not a value of this format (format byte or stored length). */
bool diskval_peek(const uint8_t *buf, size_t len, struct diskval *out);
/* Why buf is refused as a value (DISKVAL_CORRUPT, or false from peek), for a log line: a
 * short phrase, or NULL when its header, lengths and checksum are right. */
const char *diskval_why(const uint8_t *buf, size_t len);
/* For the compaction filter: true when the header is readable and says the value expired. */
bool diskval_expired(const uint8_t *buf, size_t len, uint64_t now_ms);

#endif
