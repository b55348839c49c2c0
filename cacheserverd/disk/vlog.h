/* The value log's on-disk format (docs/valuelog.md, "The on-disk format"): segment files,
 * their records and footers, the recovery scan of an unsealed segment, and the table of open
 * segments with references. Nothing of the tiers: step 1 of the plan, not used yet.
 *
 * A segment is a file of `size` bytes, preallocated. Little-endian, byte by byte:
 *   header (0..4095): 0 magic "CSDVLOG\0", 8 u32 format (1), 12 u32 tier, 16 u64 sequence,
 *       24 u64 created (unix ms), 32 u32 size, 36 u32 CRC-32C of bytes 0..35; 40..4095 zero.
 *   records from 4096, each at an 8-byte boundary, one after another:
 *       0 u32 CRC-32C of bytes 4..23 and the key, 4 u32 length (padding included, a multiple
 *       of 8; 0: no record here), 8 u64 key hash, 16 u16 key length k, 18 u8 kind
 *       (1 PUT, 2 DEL, 3 NSFLUSH), 19 u8 flags (1: a stream's head), 20 u32 length v of the
 *       diskval bytes (0 unless PUT), 24 the key, 24 + k the diskval bytes (diskval.h,
 *       unchanged), then zero padding to 8.
 *   once sealed, right after the last record, one footer entry per record, unpadded:
 *       0 u64 hash, 8 u32 offset, 12 u32 record length, 16 u64 expiry (the diskval's, 0 for
 *       DEL and NSFLUSH), 24 u8 kind, 25 u8 flags, 26 u16 k, 28 the key;
 *   and in the file's last 32 bytes the trailer: 0 u32 entry count, 4 u32 footer offset,
 *       8 u32 footer length, 12 u32 CRC-32C of the footer, 16 u32 CRC-32C of bytes 0..15,
 *       20 u32 zero, 24 magic "CSDVEND\0".
 * Every append reserves its footer entry, so a segment's footer always fits before its
 * trailer. Every length read from a file is checked against the file before it is used.
 *
 * Threads. One thread (the tier's writer) creates, appends to, scans and seals a segment:
 * vlog_create, vlog_open, vlog_scan, vlog_buf_*, vlog_seal, vlog_close. Any thread holding a
 * reference may vlog_read a segment (pread only) and read its footer into a struct
 * vlog_footer of its own. The table (vlog_table_*) is safe from any thread: a mutex, held for
 * a lookup or a reference count change only, guards its slots and the counts.
 *
 * Errors: functions return enum vlog_status and, when err is not NULL, write a sentence
 * naming the file, the offset and the reason (with errno's text for a system call). */
#ifndef TIER_VLOG_H
#define TIER_VLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VLOG_FORMAT 1
#define VLOG_HEADER 40        /* the header's bytes; the rest of the first 4096 is zero */
#define VLOG_DATA 4096u       /* the first record's offset */
#define VLOG_REC_HEADER 24
#define VLOG_ENTRY 28         /* a footer entry without its key */
#define VLOG_TRAILER 32
#define VLOG_ALIGN 8u
#define VLOG_SIZE_MIN 8192u   /* the format's floor; the tier clamps to 1 MiB and more */
#define VLOG_SIZE_MAX 0xfffff000u /* offsets are u32 (the index keeps 32 bits) */

enum vlog_kind { VLOG_PUT = 1, VLOG_DEL = 2, VLOG_NSFLUSH = 3 };
#define VLOG_F_STREAM_HEAD 1u

enum vlog_status {
    VLOG_OK = 0,
    VLOG_FULL = 1,    /* the record and its footer entry do not fit the segment: seal it */
    VLOG_NOBUF = 2,   /* the record does not fit the caller's buffer: write it first */
    VLOG_CORRUPT = 3, /* bytes of the file fail a check */
    VLOG_IO = 4,      /* a system call failed (ENOSPC at creation among them) */
    VLOG_NOMEM = 5,
    VLOG_INVAL = 6,   /* a caller's mistake: bad arguments, or a call the state forbids */
    VLOG_BUSY = 7,    /* the table's slot is still held by another segment */
    VLOG_AGAIN = 8,   /* vlog_read_cached: not every byte is in the page cache */
};

/* A record to append. PUT: val is diskval bytes (diskval_encode's output), copied unchanged.
 * DEL: key only. NSFLUSH: key is what the tier layer names the namespace by (may be empty). */
struct vlog_rec {
    uint8_t kind;
    uint8_t flags;
    uint64_t hash;
    const uint8_t *key;
    uint16_t klen;
    const uint8_t *val;
    uint32_t vlen;
};

/* One record as found: a footer entry, or a record read and verified (then key and val
 * point into the caller's buffer; val is NULL unless PUT). */
struct vlog_entry {
    uint64_t hash;
    uint32_t off;
    uint32_t len;        /* the record's length, padding included */
    uint64_t expire_ms;  /* the diskval's expiry; 0 for DEL and NSFLUSH */
    uint8_t kind;
    uint8_t flags;
    uint16_t klen;
    const uint8_t *key;
    const uint8_t *val;
    uint32_t vlen;
};

/* An open segment. Fields are read-only outside vlog.c. */
struct vlog_seg {
    int fd;
    char *name;           /* the path given, for error strings */
    uint64_t seq;
    uint32_t size;
    uint8_t tier;
    uint64_t created_ms;
    bool rw;              /* the descriptor is open for writing */
    bool writable;        /* created here: vlog_buf_* may append (see vlog_scan) */
    bool have_foot;       /* foot holds every record's entry (created here, or scanned) */
    bool sealed;          /* a footer is in place (vlog_seal, or vlog_footer_read found it) */
    bool failed;          /* a write failed: no more appends, seal at tail or drop */
    bool nosync;          /* set by the owner: vlog_seal never fdatasyncs (a cache tier
                           * without persistence: nothing of it is read after a crash) */
    uint32_t tail;        /* the end of the records written (after vlog_scan: found) */
    uint32_t nrec;        /* records written */
    /* the footer's entries of the records written and of a buffer not yet written */
    uint8_t *foot;
    size_t foot_len, foot_cap, foot_done;
    uint32_t nrec_pending;
    /* the table's bookkeeping (under its mutex) */
    unsigned refs;
    bool removed;
};

/* File name of a segment: "seg-<16 hex digits>.vlog". */
void vlog_seg_name(char *buf, size_t n, uint64_t seq);
/* The sequence in such a name; false for any other name. */
bool vlog_seg_parse_name(const char *name, uint64_t *seq);
/* A segment's name with VLOG_PARTIAL after it: a creation a crash interrupted (vlog_create),
 * to be removed. */
#define VLOG_PARTIAL ".new"
bool vlog_seg_is_partial(const char *name);
/* The padded length of a record with these lengths; 0 when it cannot be a record. */
uint32_t vlog_record_size(size_t klen, size_t vlen);
/* The size of a segment of its own for one record this large (a record over S / 2),
 * rounded up to 4096; 0 when no segment can hold it. */
uint32_t vlog_size_for(size_t klen, size_t vlen);

/* Create path (which must not exist): fallocated to size (a multiple of 8, at least
 * VLOG_SIZE_MIN), its header written, file and directory fsynced. *out is appendable. Made
 * as path + VLOG_PARTIAL and renamed once whole, so a crash never leaves a segment without
 * its header under a segment's name. */
int vlog_create(const char *path, uint64_t seq, uint8_t tier, uint32_t size,
                uint64_t created_ms, struct vlog_seg **out, char *err, size_t errlen);
/* Open an existing segment and check its header (magic, format, CRC, zero padding, size
 * against the file's, the sequence against the file name's when the name is a segment's).
 * The segment is not appendable; vlog_footer_read or vlog_scan find what it holds. */
int vlog_open(const char *path, bool writable, struct vlog_seg **out, char *err, size_t errlen);
/* The same on an open descriptor (taken over: vlog_close closes it); name is for errors. */
int vlog_open_fd(int fd, const char *name, bool writable, struct vlog_seg **out, char *err,
                 size_t errlen);
/* Close the file and free s (the table does this itself for its segments). */
void vlog_close(struct vlog_seg *s);

/* Appending. A buffer is filled with records (vlog_buf_add) and written at the segment's
 * tail in one pwrite (vlog_buf_write). Only while the segment is writable, not sealed and
 * no write has failed. */
struct vlog_buf {
    uint8_t *data;
    size_t cap;
    size_t len;
};
/* Encode r at the end of b for s. *off and *len (may be NULL) get the record's place in the
 * file, valid once the buffer is written. VLOG_FULL: the record with its footer entry does
 * not fit in s (write b, seal s, go on in the next); VLOG_NOBUF: b lacks room (write it
 * first; a record larger than the buffer needs a buffer of vlog_record_size bytes). */
int vlog_buf_add(struct vlog_seg *s, struct vlog_buf *b, const struct vlog_rec *r,
                 uint32_t *off, uint32_t *len, char *err, size_t errlen);
/* Write b at s's tail (pwrite until done; EINTR retried) and empty it. On failure the
 * buffer's records are forgotten, the segment takes no more appends (s->failed): bytes
 * after its tail are unknown, so it is sealed where it was, or dropped. */
int vlog_buf_write(struct vlog_seg *s, struct vlog_buf *b, char *err, size_t errlen);
/* Forget the records of a buffer not written (a batch abandoned). */
void vlog_buf_drop(struct vlog_seg *s, struct vlog_buf *b);

/* Read the record at (off, len) into buf (at least len bytes) and verify it: offset,
 * alignment and bounds, its length field, header CRC, key length, kind, flags, padding, and
 * for a PUT the diskval's length (not its CRC: diskval_decode checks that, once). On VLOG_OK
 * out->key and out->val point into buf. */
int vlog_read(struct vlog_seg *s, uint32_t off, uint32_t len, uint8_t *buf,
              struct vlog_entry *out, char *err, size_t errlen);
/* The same without waiting on the device (preadv2 with RWF_NOWAIT, buffered reads):
 * VLOG_AGAIN when not every byte is in the page cache now. */
int vlog_read_cached(struct vlog_seg *s, uint32_t off, uint32_t len, uint8_t *buf,
                     struct vlog_entry *out, char *err, size_t errlen);
/* Read len bytes of records from off (an 8-byte boundary in the records' part of the file)
 * into buf, unchecked: a walk reads many records at once and checks each with
 * vlog_record_check. */
int vlog_read_span(struct vlog_seg *s, uint32_t off, uint32_t len, uint8_t *buf, char *err,
                   size_t errlen);
/* Verify a record held in memory: buf holds avail bytes from its first one (avail may be
 * more than the record). On VLOG_OK out is filled (out->off is 0) and *why NULL; otherwise
 * *why says what failed. Checks the diskval's CRC too when check_value. */
int vlog_record_check(const uint8_t *buf, size_t avail, bool check_value,
                      struct vlog_entry *out, const char **why);

/* Forget the records from off on (a record's offset, or the tail): the tail and the
 * in-memory footer end there, so a seal writes the footer at off. For a segment whose
 * fdatasync failed: what it holds after the last successful sync is unknown. VLOG_INVAL
 * unless appended here, not sealed, with no buffer pending and off within the records. */
int vlog_cut(struct vlog_seg *s, uint32_t off);
/* Seal: fdatasync the records, write the footer after them and the trailer, fdatasync
 * (no fdatasync when s->nosync). */
int vlog_seal(struct vlog_seg *s, char *err, size_t errlen);
/* Free the in-memory footer of a sealed segment (vlog_footer_read reads it from the file). */
void vlog_footer_forget(struct vlog_seg *s);

/* A footer's entries: read from a sealed segment (vlog_footer_read) or the ones s holds in
 * memory (vlog_footer_mem: what was appended, or what vlog_scan found). */
struct vlog_footer {
    uint8_t *buf;       /* owned by vlog_footer_read's result, borrowed from s otherwise */
    bool owned;
    size_t len;
    uint32_t count;
    uint32_t end;       /* the offset after the last record */
    size_t pos;
    uint32_t seen;
};
/* Read and check s's trailer and footer: magic, trailer CRC, bounds, footer CRC, and every
 * entry (records contiguous from 4096 to the footer, lengths and key lengths in bounds,
 * kinds known, the count exact). VLOG_CORRUPT when any fails (then scan the segment). Reads
 * only (s is not changed): any thread with a reference may call it. f->end is where the
 * records end. */
int vlog_footer_read(struct vlog_seg *s, struct vlog_footer *f, char *err, size_t errlen);
void vlog_footer_mem(struct vlog_seg *s, struct vlog_footer *f);
/* The next entry in file order: 1 with *e filled (e->key points into the footer), 0 at the
 * end. Entries were checked when the footer was read. */
int vlog_footer_next(struct vlog_footer *f, struct vlog_entry *e);
void vlog_footer_free(struct vlog_footer *f);

/* The recovery scan of an unsealed segment (or one whose footer failed): records from 4096,
 * one by one, until the first whose length is 0, out of bounds (its footer entry included),
 * or whose header, key or diskval fails its check: the torn tail. *end gets its offset; the
 * records before it become s's (s->tail, s->nrec, the in-memory footer: vlog_footer_mem).
 * *why (may be NULL) says why the scan stopped. A scanned segment is sealed (vlog_seal writes
 * its footer at *end) and never appended to: appending after a tear could make records that
 * followed it valid again. */
int vlog_scan(struct vlog_seg *s, uint32_t *end, const char **why, char *err, size_t errlen);

/* The table of open segments: slot = low 32 bits of the sequence modulo capacity; each slot
 * checked against the sequence. The table holds one reference on each segment it has; a
 * reader takes another for the time of its pread. */
struct vlog_table;
struct vlog_table *vlog_table_new(uint32_t capacity);
/* Close every segment. Only when no thread uses the table any more. */
void vlog_table_free(struct vlog_table *t);
/* Put s in its slot. VLOG_BUSY when the slot holds another segment (live, or removed with
 * references still out): a slot is reused only after its last reference is dropped. */
int vlog_table_add(struct vlog_table *t, struct vlog_seg *s);
/* The segment of this sequence with a reference taken, or NULL. */
struct vlog_seg *vlog_table_get(struct vlog_table *t, uint64_t seq);
/* The same by the low 32 bits (what an index entry keeps). */
struct vlog_seg *vlog_table_get32(struct vlog_table *t, uint32_t seq32);
/* Drop a reference; the last one of a removed segment closes it and frees its slot. */
void vlog_table_put(struct vlog_table *t, struct vlog_seg *s);
/* Remove seq from the table: no new reference can be taken; with unlink_file its file is
 * unlinked now (its data stays readable through the open descriptor), and the segment is
 * closed when the last reader drops it. VLOG_INVAL when seq is not in the table. */
int vlog_table_remove(struct vlog_table *t, uint64_t seq, bool unlink_file);
/* Segments in the table (removed ones still referenced not counted). */
uint32_t vlog_table_count(struct vlog_table *t);

#endif
