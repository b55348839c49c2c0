/* The value log's on-disk format (see vlog.h and docs/valuelog.md): segment files, records,
 * footers, the recovery scan and the segment table. */
#include "vlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "le.h"
#include "diskval.h"

static const uint8_t MAGIC[8] = {'C', 'S', 'D', 'V', 'L', 'O', 'G', 0};
static const uint8_t END_MAGIC[8] = {'C', 'S', 'D', 'V', 'E', 'N', 'D', 0};


static int _fail(char *err, size_t n, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int _fail(char *err, size_t n, int status, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return status;
}

static bool _zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Full writes and reads at an offset: EINTR retried, short counts continued. */
static int _pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* -1 with errno on an error; 0 with errno 0 when the file ends first. */
static int _pread_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static const char *_errtext(void) { return errno ? strerror(errno) : "the file ends first"; }

void vlog_seg_name(char *buf, size_t n, uint64_t seq)
{
    snprintf(buf, n, "seg-%016" PRIx64 ".vlog", seq);
}

bool vlog_seg_is_partial(const char *name)
{
    size_t n = strlen(name), p = strlen(VLOG_PARTIAL);
    char base[64];
    uint64_t seq;
    if (n <= p || n - p >= sizeof(base) || strcmp(name + n - p, VLOG_PARTIAL) != 0)
        return false;
    memcpy(base, name, n - p);
    base[n - p] = 0;
    return vlog_seg_parse_name(base, &seq);
}

bool vlog_seg_parse_name(const char *name, uint64_t *seq)
{
    if (strncmp(name, "seg-", 4) != 0 || strlen(name) != 4 + 16 + 5 ||
        strcmp(name + 20, ".vlog") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 4; i < 20; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *seq = v;
    return true;
}

uint32_t vlog_record_size(size_t klen, size_t vlen)
{
    if (klen > UINT16_MAX || vlen > UINT32_MAX)
        return 0;
    uint64_t n = (uint64_t)VLOG_REC_HEADER + klen + vlen;
    n = (n + VLOG_ALIGN - 1) & ~(uint64_t)(VLOG_ALIGN - 1);
    return n > VLOG_SIZE_MAX - VLOG_DATA - VLOG_TRAILER ? 0 : (uint32_t)n;
}

uint32_t vlog_size_for(size_t klen, size_t vlen)
{
    uint32_t r = vlog_record_size(klen, vlen);
    if (!r)
        return 0;
    uint64_t n = (uint64_t)VLOG_DATA + r + VLOG_ENTRY + klen + VLOG_TRAILER;
    n = (n + 4095) & ~(uint64_t)4095;
    if (n < VLOG_SIZE_MIN)
        n = VLOG_SIZE_MIN;
    return n > VLOG_SIZE_MAX ? 0 : (uint32_t)n;
}

static uint32_t _header_crc(const uint8_t *h) { return crc32c(0, h, 36); }

static struct vlog_seg *_seg_new(int fd, const char *name)
{
    struct vlog_seg *s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    s->fd = fd;
    return s;
}

void vlog_close(struct vlog_seg *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->foot);
    free(s->name);
    free(s);
}

/* fsync the directory holding path, so the new file's name is durable. */
static int _sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int vlog_create(const char *path, uint64_t seq, uint8_t tier, uint32_t size,
                uint64_t created_ms, struct vlog_seg **out, char *err, size_t errlen)
{
    *out = NULL;
    if (size < VLOG_SIZE_MIN || size > VLOG_SIZE_MAX || size % VLOG_ALIGN)
        return _fail(err, errlen, VLOG_INVAL, "%s: segment size %" PRIu32 " (must be a multiple of "
                     "8 from %u to %u)", path, size, VLOG_SIZE_MIN, VLOG_SIZE_MAX);
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s", path, VLOG_PARTIAL) >= sizeof(tmp))
        return _fail(err, errlen, VLOG_INVAL, "%s: path too long", path);
    if (access(path, F_OK) == 0)
        return _fail(err, errlen, VLOG_IO, "%s: create: %s", path, strerror(EEXIST));
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return _fail(err, errlen, VLOG_IO, "%s: create: %s", tmp, strerror(errno));
    const char *what = "fallocate";
    /* The whole size now, so a full disk fails here and never in the middle of a record. */
    int rc = fallocate(fd, 0, 0, size);
    if (rc != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
        /* A file system without fallocate (tmpfs before 3.5, some FUSE ones): a sparse file
         * of the right size. A full disk then shows as a failed pwrite, which the writer
         * treats as any write error (the segment takes no more appends). */
        what = "ftruncate";
        rc = ftruncate(fd, size);
    }
    uint8_t h[VLOG_HEADER] = {0};
    if (rc == 0) {
        memcpy(h, MAGIC, 8);
        put32(h + 8, VLOG_FORMAT);
        put32(h + 12, tier);
        put64(h + 16, seq);
        put64(h + 24, created_ms);
        put32(h + 32, size);
        put32(h + 36, _header_crc(h));
        what = "write of the header";
        rc = _pwrite_all(fd, h, sizeof(h), 0);
    }
    if (rc == 0) {
        what = "fsync";
        rc = fsync(fd);
    }
    if (rc == 0) {
        what = "rename";
        rc = rename(tmp, path);
    }
    if (rc == 0) {
        what = "fsync of the directory";
        rc = _sync_dir(path);
    }
    if (rc != 0) {
        int e = errno;
        close(fd);
        unlink(strcmp(what, "fsync of the directory") == 0 ? path : tmp);
        errno = e;
        return _fail(err, errlen, VLOG_IO, "%s: %s: %s", path, what, strerror(e));
    }
    struct vlog_seg *s = _seg_new(fd, path);
    if (!s) {
        close(fd);
        unlink(path);
        return _fail(err, errlen, VLOG_NOMEM, "%s: out of memory", path);
    }
    s->seq = seq;
    s->size = size;
    s->tier = tier;
    s->created_ms = created_ms;
    s->rw = s->writable = s->have_foot = true;
    s->tail = VLOG_DATA;
    *out = s;
    return VLOG_OK;
}

int vlog_open(const char *path, bool writable, struct vlog_seg **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return _fail(err, errlen, VLOG_IO, "%s: open: %s", path, strerror(errno));
    return vlog_open_fd(fd, path, writable, out, err, errlen);
}

int vlog_open_fd(int fd, const char *name, bool writable, struct vlog_seg **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    struct stat st;
    uint8_t *h = malloc(VLOG_DATA);
    int rc;
    if (!h) {
        rc = _fail(err, errlen, VLOG_NOMEM, "%s: out of memory", name);
        goto bad;
    }
    if (fstat(fd, &st) != 0) {
        rc = _fail(err, errlen, VLOG_IO, "%s: fstat: %s", name, strerror(errno));
        goto bad;
    }
    if (st.st_size < (off_t)VLOG_SIZE_MIN) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: %lld bytes, shorter than a segment", name,
                   (long long)st.st_size);
        goto bad;
    }
    if (_pread_all(fd, h, VLOG_DATA, 0) != 0) {
        rc = _fail(err, errlen, VLOG_IO, "%s: read of the header: %s", name, _errtext());
        goto bad;
    }
    if (memcmp(h, MAGIC, 8) != 0) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: not a value log segment (bad magic)", name);
        goto bad;
    }
    if (get32(h + 36) != _header_crc(h)) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: header checksum mismatch", name);
        goto bad;
    }
    if (get32(h + 8) != VLOG_FORMAT) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: format %" PRIu32 ", this build reads %d",
                   name, get32(h + 8), VLOG_FORMAT);
        goto bad;
    }
    uint32_t size = get32(h + 32), tier = get32(h + 12);
    if (tier > 255) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: tier %" PRIu32 " in the header", name, tier);
        goto bad;
    }
    if (size < VLOG_SIZE_MIN || size > VLOG_SIZE_MAX || size % VLOG_ALIGN) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: the header's size %" PRIu32 " is not a "
                   "segment's", name, size);
        goto bad;
    }
    if ((uint64_t)st.st_size != size) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: the file has %lld bytes, its header says "
                   "%" PRIu32 " (truncated or extended)", name, (long long)st.st_size, size);
        goto bad;
    }
    if (!_zero(h + VLOG_HEADER, VLOG_DATA - VLOG_HEADER)) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: bytes after the header are not zero", name);
        goto bad;
    }
    uint64_t seq = get64(h + 16), named;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (vlog_seg_parse_name(base, &named) && named != seq) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: the header's sequence %016" PRIx64
                   " is not the file name's", name, seq);
        goto bad;
    }
    struct vlog_seg *s = _seg_new(fd, name);
    if (!s) {
        rc = _fail(err, errlen, VLOG_NOMEM, "%s: out of memory", name);
        goto bad;
    }
    s->seq = seq;
    s->size = size;
    s->tier = (uint8_t)tier;
    s->created_ms = get64(h + 24);
    free(h);
    s->rw = writable; /* appends only to segments created here, seal after a scan */
    *out = s;
    return VLOG_OK;
bad:
    free(h);
    close(fd);
    return rc;
}

/* ---- records ---- */

static uint32_t _rec_crc(const uint8_t *rec, const uint8_t *key, size_t klen)
{
    return crc32c(crc32c(0, rec + 4, VLOG_REC_HEADER - 4), key, klen);
}

/* The rules a record's fields follow, for writers and readers alike: NULL or the reason. */
static const char *_fields_why(uint8_t kind, uint8_t flags, uint16_t klen, uint32_t vlen)
{
    if (kind < VLOG_PUT || kind > VLOG_NSFLUSH)
        return "unknown record kind";
    if (flags & ~VLOG_F_STREAM_HEAD || (flags && kind != VLOG_PUT))
        return "unknown record flags";
    if (kind != VLOG_PUT && vlen != 0)
        return "a DEL or NSFLUSH record with a value";
    if (kind == VLOG_PUT && vlen < DISKVAL_HEADER)
        return "a PUT's value is shorter than a diskval header";
    if (kind != VLOG_NSFLUSH && klen == 0)
        return "empty key";
    return NULL;
}

int vlog_record_check(const uint8_t *buf, size_t avail, bool check_value,
                      struct vlog_entry *out, const char **why)
{
    const char *w = NULL;
    memset(out, 0, sizeof(*out));
    if (avail < VLOG_REC_HEADER) {
        w = "shorter than a record header";
        goto bad;
    }
    uint32_t len = get32(buf + 4), vlen = get32(buf + 20);
    uint16_t klen = get16(buf + 16);
    uint8_t kind = buf[18], flags = buf[19];
    if (len == 0) {
        w = "length 0: no record here";
        goto bad;
    }
    if (len < VLOG_REC_HEADER || len % VLOG_ALIGN) {
        w = "record length not a multiple of 8 of at least a header";
        goto bad;
    }
    if (len > avail) {
        w = "record length beyond the bytes there are";
        goto bad;
    }
    if ((w = _fields_why(kind, flags, klen, vlen)))
        goto bad;
    if (vlog_record_size(klen, vlen) != len) {
        w = "key and value lengths disagree with the record length";
        goto bad;
    }
    if (_rec_crc(buf, buf + VLOG_REC_HEADER, klen) != get32(buf)) {
        w = "record header checksum mismatch";
        goto bad;
    }
    size_t used = (size_t)VLOG_REC_HEADER + klen + vlen;
    if (!_zero(buf + used, len - used)) {
        w = "padding not zero";
        goto bad;
    }
    const uint8_t *val = vlen ? buf + VLOG_REC_HEADER + klen : NULL;
    uint64_t expire = 0;
    if (kind == VLOG_PUT) {
        struct diskval dv;
        if (!diskval_peek(val, vlen, &dv)) {
            w = "the value is not a diskval (format byte or stored length)";
            goto bad;
        }
        if (check_value && (w = diskval_why(val, vlen)))
            goto bad;
        expire = dv.expire_ms;
    }
    *out = (struct vlog_entry){.hash = get64(buf + 8), .len = len, .expire_ms = expire,
                               .kind = kind, .flags = flags, .klen = klen,
                               .key = buf + VLOG_REC_HEADER, .val = val, .vlen = vlen};
    if (why)
        *why = NULL;
    return VLOG_OK;
bad:
    if (why)
        *why = w;
    return VLOG_CORRUPT;
}

static void _encode_entry(uint8_t *p, const struct vlog_entry *e)
{
    put64(p, e->hash);
    put32(p + 8, e->off);
    put32(p + 12, e->len);
    put64(p + 16, e->expire_ms);
    p[24] = e->kind;
    p[25] = e->flags;
    put16(p + 26, e->klen);
    if (e->klen)
        memcpy(p + VLOG_ENTRY, e->key, e->klen);
}

/* Append e's footer entry to s's in-memory footer. */
static int _foot_add(struct vlog_seg *s, const struct vlog_entry *e)
{
    size_t need = VLOG_ENTRY + (size_t)e->klen;
    if (s->foot_len + need > s->foot_cap) {
        size_t cap = s->foot_cap ? s->foot_cap : 4096;
        while (cap < s->foot_len + need)
            cap *= 2;
        uint8_t *n = realloc(s->foot, cap);
        if (!n)
            return VLOG_NOMEM;
        s->foot = n;
        s->foot_cap = cap;
    }
    _encode_entry(s->foot + s->foot_len, e);
    s->foot_len += need;
    return VLOG_OK;
}

int vlog_buf_add(struct vlog_seg *s, struct vlog_buf *b, const struct vlog_rec *r,
                 uint32_t *off, uint32_t *len, char *err, size_t errlen)
{
    if (!s->writable || s->sealed || s->failed)
        return _fail(err, errlen, VLOG_INVAL, "%s: not open for appends (%s)", s->name,
                     s->failed ? "a write failed" : s->sealed ? "sealed" : "not created here");
    const char *w = _fields_why(r->kind, r->flags, r->klen, r->vlen);
    struct diskval dv = {0};
    if (!w && r->kind == VLOG_PUT && !diskval_peek(r->val, r->vlen, &dv))
        w = "the value is not a diskval";
    uint32_t rs = vlog_record_size(r->klen, r->vlen);
    if (!w && !rs)
        w = "record too large for any segment";
    if (w)
        return _fail(err, errlen, VLOG_INVAL, "%s: record refused: %s", s->name, w);
    uint64_t pos = (uint64_t)s->tail + b->len;
    if (pos + rs + s->foot_len + VLOG_ENTRY + r->klen + VLOG_TRAILER > s->size)
        return _fail(err, errlen, VLOG_FULL, "%s: full", s->name);
    if (b->len + rs > b->cap)
        return _fail(err, errlen, VLOG_NOBUF, "%s: the buffer is full", s->name);
    uint8_t *p = b->data + b->len;
    put32(p + 4, rs);
    put64(p + 8, r->hash);
    put16(p + 16, r->klen);
    p[18] = r->kind;
    p[19] = r->flags;
    put32(p + 20, r->vlen);
    if (r->klen)
        memcpy(p + VLOG_REC_HEADER, r->key, r->klen);
    if (r->vlen)
        memcpy(p + VLOG_REC_HEADER + r->klen, r->val, r->vlen);
    size_t used = (size_t)VLOG_REC_HEADER + r->klen + r->vlen;
    memset(p + used, 0, rs - used);
    put32(p, _rec_crc(p, r->key, r->klen));
    struct vlog_entry e = {.hash = r->hash, .off = (uint32_t)pos, .len = rs,
                           .expire_ms = dv.expire_ms, .kind = r->kind, .flags = r->flags,
                           .klen = r->klen, .key = r->key};
    if (_foot_add(s, &e) != VLOG_OK)
        return _fail(err, errlen, VLOG_NOMEM, "%s: out of memory", s->name);
    b->len += rs;
    s->nrec_pending++;
    if (off)
        *off = (uint32_t)pos;
    if (len)
        *len = rs;
    return VLOG_OK;
}

void vlog_buf_drop(struct vlog_seg *s, struct vlog_buf *b)
{
    s->foot_len = s->foot_done;
    s->nrec_pending = 0;
    b->len = 0;
}

int vlog_buf_write(struct vlog_seg *s, struct vlog_buf *b, char *err, size_t errlen)
{
    if (!s->writable || s->sealed || s->failed) {
        vlog_buf_drop(s, b);
        return _fail(err, errlen, VLOG_INVAL, "%s: not open for appends", s->name);
    }
    if (b->len == 0)
        return VLOG_OK;
    if (_pwrite_all(s->fd, b->data, b->len, s->tail) != 0) {
        int e = errno;
        uint32_t at = s->tail;
        size_t n = b->len;
        vlog_buf_drop(s, b);
        s->failed = true;
        return _fail(err, errlen, VLOG_IO, "%s: write of %zu bytes at %" PRIu32 ": %s", s->name,
                     n, at, strerror(e));
    }
    s->tail += (uint32_t)b->len;
    s->foot_done = s->foot_len;
    s->nrec += s->nrec_pending;
    s->nrec_pending = 0;
    b->len = 0;
    return VLOG_OK;
}

/* vlog_read, and with nowait vlog_read_cached: VLOG_AGAIN when preadv2(RWF_NOWAIT) cannot
 * give every byte now. */
static int _read(struct vlog_seg *s, uint32_t off, uint32_t len, uint8_t *buf, bool nowait,
                 struct vlog_entry *out, char *err, size_t errlen)
{
    if (off < VLOG_DATA || off % VLOG_ALIGN || len < VLOG_REC_HEADER || len % VLOG_ALIGN ||
        (uint64_t)off + len > (uint64_t)s->size - VLOG_TRAILER)
        return _fail(err, errlen, VLOG_INVAL, "%s: no record can be at %" PRIu32 " (%" PRIu32
                     " bytes)", s->name, off, len);
    if (nowait) {
        struct iovec io = {buf, len};
        if (preadv2(s->fd, &io, 1, off, RWF_NOWAIT) != (ssize_t)len)
            return VLOG_AGAIN; /* not all cached (or an error the blocking read reports) */
    } else if (_pread_all(s->fd, buf, len, off) != 0) {
        return _fail(err, errlen, VLOG_IO, "%s: read of %" PRIu32 " bytes at %" PRIu32 ": %s",
                     s->name, len, off, _errtext());
    }
    const char *why;
    if (vlog_record_check(buf, len, false, out, &why) != VLOG_OK)
        return _fail(err, errlen, VLOG_CORRUPT, "%s: record at %" PRIu32 ": %s", s->name, off,
                     why);
    if (out->len != len)
        return _fail(err, errlen, VLOG_CORRUPT, "%s: record at %" PRIu32 " is %" PRIu32
                     " bytes, not %" PRIu32, s->name, off, out->len, len);
    out->off = off;
    return VLOG_OK;
}

int vlog_read(struct vlog_seg *s, uint32_t off, uint32_t len, uint8_t *buf,
              struct vlog_entry *out, char *err, size_t errlen)
{
    return _read(s, off, len, buf, false, out, err, errlen);
}

int vlog_read_cached(struct vlog_seg *s, uint32_t off, uint32_t len, uint8_t *buf,
                     struct vlog_entry *out, char *err, size_t errlen)
{
    return _read(s, off, len, buf, true, out, err, errlen);
}

int vlog_read_span(struct vlog_seg *s, uint32_t off, uint32_t len, uint8_t *buf, char *err,
                   size_t errlen)
{
    if (off < VLOG_DATA || off % VLOG_ALIGN || !len ||
        (uint64_t)off + len > (uint64_t)s->size - VLOG_TRAILER)
        return _fail(err, errlen, VLOG_INVAL, "%s: no records can be at %" PRIu32 " (%" PRIu32
                     " bytes)", s->name, off, len);
    if (_pread_all(s->fd, buf, len, off) != 0)
        return _fail(err, errlen, VLOG_IO, "%s: read of %" PRIu32 " bytes at %" PRIu32 ": %s",
                     s->name, len, off, _errtext());
    return VLOG_OK;
}

int vlog_cut(struct vlog_seg *s, uint32_t off)
{
    if (!s->rw || s->sealed || !s->have_foot || s->nrec_pending || off < VLOG_DATA ||
        off > s->tail)
        return VLOG_INVAL;
    size_t pos = 0;
    uint32_t n = 0;
    while (pos + VLOG_ENTRY <= s->foot_done && get32(s->foot + pos + 8) < off) {
        pos += VLOG_ENTRY + get16(s->foot + pos + 26);
        n++;
    }
    s->foot_len = s->foot_done = pos;
    s->nrec = n;
    s->tail = off;
    return VLOG_OK;
}

/* ---- sealing and footers ---- */

int vlog_seal(struct vlog_seg *s, char *err, size_t errlen)
{
    if (!s->rw || s->sealed || !s->have_foot || s->nrec_pending)
        return _fail(err, errlen, VLOG_INVAL, "%s: cannot be sealed (%s)", s->name,
                     !s->rw ? "opened read-only" : s->sealed ? "sealed already" :
                     !s->have_foot ? "its records are not known: scan it first" :
                     "a buffer of records is not written");
    size_t flen = s->foot_done;
    if ((uint64_t)s->tail + flen + VLOG_TRAILER > s->size) /* reserved at each append */
        return _fail(err, errlen, VLOG_INVAL, "%s: the footer does not fit", s->name);
    uint8_t t[VLOG_TRAILER] = {0};
    put32(t, s->nrec);
    put32(t + 4, s->tail);
    put32(t + 8, (uint32_t)flen);
    put32(t + 12, crc32c(0, s->foot, flen));
    put32(t + 16, crc32c(0, t, 16));
    memcpy(t + 24, END_MAGIC, 8);
    const char *what = "fdatasync";
    int rc = s->nosync ? 0 : fdatasync(s->fd); /* records durable before a footer names them */
    if (rc == 0 && flen) {
        what = "write of the footer";
        rc = _pwrite_all(s->fd, s->foot, flen, s->tail);
    }
    if (rc == 0) {
        what = "write of the trailer";
        rc = _pwrite_all(s->fd, t, sizeof(t), (uint64_t)s->size - VLOG_TRAILER);
    }
    if (rc == 0 && !s->nosync) {
        what = "fdatasync";
        rc = fdatasync(s->fd);
    }
    if (rc != 0) {
        s->failed = true;
        return _fail(err, errlen, VLOG_IO, "%s: seal: %s: %s", s->name, what, strerror(errno));
    }
    s->sealed = true;
    s->writable = false;
    return VLOG_OK;
}

void vlog_footer_forget(struct vlog_seg *s)
{
    if (!s->sealed)
        return;
    free(s->foot);
    s->foot = NULL;
    s->foot_len = s->foot_cap = s->foot_done = 0;
    s->have_foot = false;
}

/* Parse the footer entry at buf + pos (len bytes in all): NULL, or why it is refused. The
 * record it names must start at want_off and end by rec_end. */
static const char *_entry_why(const uint8_t *buf, size_t len, size_t pos, uint64_t want_off,
                              uint64_t rec_end, struct vlog_entry *e)
{
    if (len - pos < VLOG_ENTRY)
        return "footer entry cut short";
    *e = (struct vlog_entry){.hash = get64(buf + pos), .off = get32(buf + pos + 8),
                             .len = get32(buf + pos + 12), .expire_ms = get64(buf + pos + 16),
                             .kind = buf[pos + 24], .flags = buf[pos + 25],
                             .klen = get16(buf + pos + 26)};
    if (len - pos - VLOG_ENTRY < e->klen)
        return "footer entry's key beyond the footer";
    e->key = buf + pos + VLOG_ENTRY;
    if (e->off != want_off)
        return "footer entry's offset is not where the previous record ends";
    const char *w = _fields_why(e->kind, e->flags, e->klen, e->kind == VLOG_PUT ? DISKVAL_HEADER : 0);
    if (w)
        return w;
    if (e->kind != VLOG_PUT && e->expire_ms)
        return "an expiry on a DEL or NSFLUSH entry";
    uint32_t least = vlog_record_size(e->klen, e->kind == VLOG_PUT ? DISKVAL_HEADER : 0);
    if (e->len < least || e->len % VLOG_ALIGN || (uint64_t)e->off + e->len > rec_end)
        return "footer entry's record length out of bounds";
    return NULL;
}

int vlog_footer_read(struct vlog_seg *s, struct vlog_footer *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    uint8_t t[VLOG_TRAILER];
    uint64_t at = (uint64_t)s->size - VLOG_TRAILER;
    if (_pread_all(s->fd, t, sizeof(t), at) != 0)
        return _fail(err, errlen, VLOG_IO, "%s: read of the trailer: %s", s->name, _errtext());
    if (memcmp(t + 24, END_MAGIC, 8) != 0)
        return _fail(err, errlen, VLOG_CORRUPT, "%s: no trailer (not sealed, or its end is "
                     "damaged)", s->name);
    if (get32(t + 16) != crc32c(0, t, 16))
        return _fail(err, errlen, VLOG_CORRUPT, "%s: trailer checksum mismatch", s->name);
    if (!_zero(t + 20, 4))
        return _fail(err, errlen, VLOG_CORRUPT, "%s: trailer's reserved bytes not zero", s->name);
    uint32_t count = get32(t), foff = get32(t + 4), flen = get32(t + 8);
    if (foff < VLOG_DATA || foff % VLOG_ALIGN || (uint64_t)foff + flen > at)
        return _fail(err, errlen, VLOG_CORRUPT, "%s: footer at %" PRIu32 " (%" PRIu32
                     " bytes) out of bounds", s->name, foff, flen);
    if (count > flen / VLOG_ENTRY)
        return _fail(err, errlen, VLOG_CORRUPT, "%s: %" PRIu32 " footer entries cannot fit in %"
                     PRIu32 " bytes", s->name, count, flen);
    uint8_t *buf = malloc(flen ? flen : 1);
    if (!buf)
        return _fail(err, errlen, VLOG_NOMEM, "%s: out of memory", s->name);
    int rc;
    if (_pread_all(s->fd, buf, flen, foff) != 0) {
        rc = _fail(err, errlen, VLOG_IO, "%s: read of the footer: %s", s->name, _errtext());
        goto bad;
    }
    if (crc32c(0, buf, flen) != get32(t + 12)) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: footer checksum mismatch", s->name);
        goto bad;
    }
    size_t pos = 0;
    uint64_t want = VLOG_DATA;
    for (uint32_t i = 0; i < count; i++) {
        struct vlog_entry e;
        const char *w = _entry_why(buf, flen, pos, want, foff, &e);
        if (w) {
            rc = _fail(err, errlen, VLOG_CORRUPT, "%s: footer entry %" PRIu32 ": %s", s->name, i,
                       w);
            goto bad;
        }
        pos += VLOG_ENTRY + (size_t)e.klen;
        want = (uint64_t)e.off + e.len;
    }
    if (pos != flen || want != foff) {
        rc = _fail(err, errlen, VLOG_CORRUPT, "%s: footer entries disagree with its length or "
                   "offset", s->name);
        goto bad;
    }
    *f = (struct vlog_footer){.buf = buf, .owned = true, .len = flen, .count = count,
                              .end = foff};
    return VLOG_OK;
bad:
    free(buf);
    return rc;
}

void vlog_footer_mem(struct vlog_seg *s, struct vlog_footer *f)
{
    *f = (struct vlog_footer){.buf = s->foot, .len = s->foot_done, .count = s->nrec,
                              .end = s->tail};
}

int vlog_footer_next(struct vlog_footer *f, struct vlog_entry *e)
{
    if (f->seen >= f->count || f->len - f->pos < VLOG_ENTRY)
        return 0;
    const uint8_t *p = f->buf + f->pos;
    *e = (struct vlog_entry){.hash = get64(p), .off = get32(p + 8), .len = get32(p + 12),
                             .expire_ms = get64(p + 16), .kind = p[24], .flags = p[25],
                             .klen = get16(p + 26)};
    if (f->len - f->pos - VLOG_ENTRY < e->klen)
        return 0; /* checked when read; never for a footer vlog_footer_read accepted */
    e->key = p + VLOG_ENTRY;
    f->pos += VLOG_ENTRY + (size_t)e->klen;
    f->seen++;
    return 1;
}

void vlog_footer_free(struct vlog_footer *f)
{
    if (f->owned)
        free(f->buf);
    memset(f, 0, sizeof(*f));
}

/* ---- the recovery scan ---- */

#define SCAN_WINDOW (1u << 20)

struct window {
    uint8_t *buf;
    size_t cap;
    uint64_t off; /* file offset of buf[0] */
    size_t len;
};

/* Make [pos, pos + n) of the file available in w; n <= size - pos (checked by the caller). */
static int _window(struct vlog_seg *s, struct window *w, uint64_t pos, size_t n)
{
    if (pos >= w->off && pos + n <= w->off + w->len)
        return 0;
    size_t want = n > SCAN_WINDOW ? n : SCAN_WINDOW;
    if (want > s->size - pos)
        want = (size_t)(s->size - pos);
    if (want > w->cap) {
        uint8_t *b = realloc(w->buf, want);
        if (!b)
            return VLOG_NOMEM;
        w->buf = b;
        w->cap = want;
    }
    w->len = 0;
    if (_pread_all(s->fd, w->buf, want, pos) != 0)
        return VLOG_IO;
    w->off = pos;
    w->len = want;
    return 0;
}

int vlog_scan(struct vlog_seg *s, uint32_t *end, const char **why, char *err, size_t errlen)
{
    if (s->writable || s->sealed)
        return _fail(err, errlen, VLOG_INVAL, "%s: scan of a segment %s", s->name,
                     s->sealed ? "sealed here" : "being appended to");
    s->foot_len = s->foot_done = 0;
    s->nrec = s->nrec_pending = 0;
    s->have_foot = false;
    struct window w = {0};
    uint64_t pos = VLOG_DATA, limit = (uint64_t)s->size - VLOG_TRAILER;
    const char *stop = NULL;
    int rc = VLOG_OK;
    for (;;) {
        if (pos + VLOG_REC_HEADER > limit) {
            stop = "the segment is full";
            break;
        }
        if ((rc = _window(s, &w, pos, VLOG_REC_HEADER)))
            break;
        const uint8_t *h = w.buf + (pos - w.off);
        uint32_t len = get32(h + 4);
        uint16_t klen = get16(h + 16);
        if (len == 0) {
            stop = "length 0: the end";
            break;
        }
        if (len < VLOG_REC_HEADER || len % VLOG_ALIGN || pos + len > limit) {
            stop = "record length out of bounds";
            break;
        }
        if (pos + len + s->foot_len + VLOG_ENTRY + klen + VLOG_TRAILER > s->size) {
            stop = "no room for the record's footer entry";
            break;
        }
        if ((rc = _window(s, &w, pos, len)))
            break;
        struct vlog_entry e;
        if (vlog_record_check(w.buf + (pos - w.off), len, true, &e, &stop) != VLOG_OK)
            break;
        e.off = (uint32_t)pos;
        if ((rc = _foot_add(s, &e)))
            break;
        s->nrec++;
        pos += len;
    }
    free(w.buf);
    if (rc == VLOG_NOMEM)
        return _fail(err, errlen, VLOG_NOMEM, "%s: out of memory", s->name);
    if (rc == VLOG_IO)
        return _fail(err, errlen, VLOG_IO, "%s: scan: read at %" PRIu64 ": %s", s->name, pos,
                     _errtext());
    s->tail = (uint32_t)pos;
    s->foot_done = s->foot_len;
    s->have_foot = true;
    if (end)
        *end = (uint32_t)pos;
    if (why)
        *why = stop;
    return VLOG_OK;
}

/* ---- the segment table ---- */

struct vlog_table {
    pthread_mutex_t mu;
    uint32_t cap, count;
    struct vlog_seg **slots;
};

struct vlog_table *vlog_table_new(uint32_t capacity)
{
    if (capacity == 0)
        return NULL;
    struct vlog_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->slots = calloc(capacity, sizeof(*t->slots)))) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->cap = capacity;
    return t;
}

void vlog_table_free(struct vlog_table *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->cap; i++)
        vlog_close(t->slots[i]);
    pthread_mutex_destroy(&t->mu);
    free(t->slots);
    free(t);
}

static uint32_t _slot(const struct vlog_table *t, uint64_t seq) { return (uint32_t)seq % t->cap; }

int vlog_table_add(struct vlog_table *t, struct vlog_seg *s)
{
    pthread_mutex_lock(&t->mu);
    uint32_t i = _slot(t, s->seq);
    int rc = VLOG_BUSY;
    if (!t->slots[i]) {
        t->slots[i] = s;
        s->refs = 1; /* the table's */
        s->removed = false;
        t->count++;
        rc = VLOG_OK;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static struct vlog_seg *_get(struct vlog_table *t, uint64_t seq, bool low32)
{
    pthread_mutex_lock(&t->mu);
    struct vlog_seg *s = t->slots[_slot(t, seq)];
    if (s && !s->removed && (low32 ? (uint32_t)s->seq == (uint32_t)seq : s->seq == seq))
        s->refs++;
    else
        s = NULL;
    pthread_mutex_unlock(&t->mu);
    return s;
}

struct vlog_seg *vlog_table_get(struct vlog_table *t, uint64_t seq) { return _get(t, seq, false); }
struct vlog_seg *vlog_table_get32(struct vlog_table *t, uint32_t seq32)
{
    return _get(t, seq32, true);
}

void vlog_table_put(struct vlog_table *t, struct vlog_seg *s)
{
    pthread_mutex_lock(&t->mu);
    bool last = s->refs > 0 && --s->refs == 0;
    if (last) {
        uint32_t i = _slot(t, s->seq);
        if (t->slots[i] == s)
            t->slots[i] = NULL;
        if (!s->removed)
            t->count--; /* a put too many; keep the table consistent anyway */
    }
    pthread_mutex_unlock(&t->mu);
    if (last)
        vlog_close(s); /* outside the mutex: close may take a while */
}

int vlog_table_remove(struct vlog_table *t, uint64_t seq, bool unlink_file)
{
    pthread_mutex_lock(&t->mu);
    struct vlog_seg *s = t->slots[_slot(t, seq)];
    if (!s || s->removed || s->seq != seq) {
        pthread_mutex_unlock(&t->mu);
        return VLOG_INVAL;
    }
    s->removed = true;
    t->count--;
    pthread_mutex_unlock(&t->mu);
    /* The table's reference is still held: s stays valid until the put below. */
    if (unlink_file)
        unlink(s->name);
    vlog_table_put(t, s);
    return VLOG_OK;
}

uint32_t vlog_table_count(struct vlog_table *t)
{
    pthread_mutex_lock(&t->mu);
    uint32_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}
