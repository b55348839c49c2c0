/* libFuzzer target: the value log's segment reader (cacheserverd/disk/vlog.c), which reads
 * segment files after a crash, a torn write, a bad disk or a file put there by hand.
 *
 * The input is a segment image without the zero padding of its header page: bytes 0..39 are
 * the header, bytes 40.. are the file from offset 4096 on (so a seed is a few hundred bytes,
 * not 4 KiB of zeros; tests/tier/test_vlog.c flips every byte of that page). The image goes
 * into a memfd and is read as the server will: vlog_open_fd, vlog_footer_read and a
 * vlog_read of each footer entry, then vlog_scan, a vlog_read of each record the scan kept,
 * vlog_seal of what it kept and vlog_footer_read again, which must give the scan's entries.
 * A random image almost never carries right checksums, so it runs a second time with the
 * header, every record's CRC (and a PUT's diskval length and CRC) along the scan's path, and
 * the footer's and trailer's CRCs rewritten to match, which takes the fuzzer into the length
 * and bound checks behind them.
 * abort() on: a record returned whose CRC (recomputed here) does not verify, or whose key or
 * value lies outside it; an offset outside the records' part of the file; a record the scan
 * kept that vlog_read refuses, or whose diskval fails its CRC; entries that are not
 * contiguous from 4096; a footer written by vlog_seal that vlog_footer_read refuses or reads
 * differently. Reads outside the file or the buffers are ASan's to catch. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crc32c.h"
#include "diskval.h"
#include "vlog.h"

#define IMAGE_MAX (1u << 20)

static volatile uint64_t sink;

static void _fail(const char *what)
{
    fprintf(stderr, "fuzz_vlog_segment: %s\n", what);
    abort();
}

static void _put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t _get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t _get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* A record vlog_read returned from buf (len bytes): its CRC and pointers. */
static void _check_record(const struct vlog_seg *s, const uint8_t *buf, uint32_t off,
                          uint32_t len, const struct vlog_entry *e)
{
    if (off < VLOG_DATA || off % 8 || (uint64_t)off + len > (uint64_t)s->size - VLOG_TRAILER)
        _fail("a record returned from outside the records' part of the file");
    if (e->len != len || e->off != off)
        _fail("a record returned with another length or offset than asked");
    uint16_t klen = _get16(buf + 16);
    if (klen != e->klen || (size_t)VLOG_REC_HEADER + klen > len)
        _fail("a record's key length disagrees or lies outside it");
    if (crc32c(crc32c(0, buf + 4, 20), buf + VLOG_REC_HEADER, klen) != _get32(buf))
        _fail("a record returned whose CRC does not verify");
    if (e->key != buf + VLOG_REC_HEADER)
        _fail("the key pointer is not the record's key");
    if (e->vlen && (e->val < e->key + e->klen || e->val + e->vlen > buf + len))
        _fail("the value lies outside the record");
    if (e->kind == VLOG_PUT && !e->val)
        _fail("a PUT without its value");
    uint64_t s2 = e->hash;
    for (uint32_t i = 0; i < e->vlen; i += 64)
        s2 += e->val[i];
    sink += s2;
}

/* Read every entry of f's records with vlog_read; must_read: each must be accepted. */
static void _read_entries(struct vlog_seg *s, struct vlog_footer *f, bool must_read,
                          bool check_value)
{
    struct vlog_entry fe;
    uint64_t want = VLOG_DATA;
    uint32_t n = 0;
    while (vlog_footer_next(f, &fe)) {
        n++;
        if (fe.off != want)
            _fail("footer entries are not contiguous from 4096");
        if ((uint64_t)fe.off + fe.len > f->end || f->end > s->size - VLOG_TRAILER)
            _fail("a footer entry beyond the records' end");
        want = (uint64_t)fe.off + fe.len;
        uint8_t *buf = malloc(fe.len);
        if (!buf)
            return;
        struct vlog_entry e;
        int rc = vlog_read(s, fe.off, fe.len, buf, &e, NULL, 0);
        if (rc == VLOG_OK) {
            _check_record(s, buf, fe.off, fe.len, &e);
            if (must_read && (e.hash != fe.hash || e.kind != fe.kind || e.flags != fe.flags ||
                              e.klen != fe.klen || memcmp(e.key, fe.key, fe.klen) != 0 ||
                              e.expire_ms != fe.expire_ms))
                _fail("a record the scan kept disagrees with its entry");
            if (check_value && e.kind == VLOG_PUT && diskval_why(e.val, e.vlen))
                _fail("the scan kept a record whose diskval fails its CRC");
        } else if (must_read) {
            _fail("vlog_read refuses a record the scan kept");
        }
        free(buf);
    }
    if (n != f->count || want != f->end)
        _fail("a footer's count or end disagrees with its entries");
}

static void _run(int memfd, const uint8_t *img, size_t size)
{
    if (ftruncate(memfd, 0) != 0 || ftruncate(memfd, (off_t)size) != 0 ||
        pwrite(memfd, img, size, 0) != (ssize_t)size)
        return;
    int fd = dup(memfd);
    if (fd < 0)
        return;
    struct vlog_seg *s;
    char err[256];
    if (vlog_open_fd(fd, "fuzz", true, &s, err, sizeof(err)) != VLOG_OK) {
        sink += strlen(err);
        return;
    }
    if (s->size != size)
        _fail("vlog_open_fd accepted a size other than the file's");
    struct vlog_footer f;
    if (vlog_footer_read(s, &f, err, sizeof(err)) == VLOG_OK) {
        _read_entries(s, &f, false, false);
        vlog_footer_free(&f);
    }
    uint32_t end;
    const char *why = NULL;
    if (vlog_scan(s, &end, &why, err, sizeof(err)) != VLOG_OK) {
        vlog_close(s);
        return;
    }
    if (end < VLOG_DATA || end % 8 || end > s->size - VLOG_TRAILER || end != s->tail)
        _fail("the scan's end is outside the records' part of the file");
    if (!why)
        _fail("the scan stopped without a reason");
    struct vlog_footer mem;
    vlog_footer_mem(s, &mem);
    _read_entries(s, &mem, true, true);
    /* sealed where the scan stopped, the footer reads back as the scan's entries */
    if (vlog_seal(s, err, sizeof(err)) != VLOG_OK)
        _fail("vlog_seal failed after a scan");
    if (vlog_footer_read(s, &f, err, sizeof(err)) != VLOG_OK)
        _fail("vlog_footer_read refuses the footer vlog_seal wrote");
    vlog_footer_mem(s, &mem);
    if (f.count != mem.count || f.len != mem.len || f.end != mem.end ||
        (f.len && memcmp(f.buf, mem.buf, f.len) != 0))
        _fail("the sealed footer differs from the scan's entries");
    _read_entries(s, &f, true, true);
    vlog_footer_free(&f);
    vlog_close(s);
}

/* The image with every checksum made right along the scan's path. */
static void _fix(uint8_t *img, size_t size)
{
    static const uint8_t magic[8] = {'C', 'S', 'D', 'V', 'L', 'O', 'G', 0};
    memcpy(img, magic, 8);
    _put32(img + 8, VLOG_FORMAT);
    img[13] = img[14] = img[15] = 0;
    _put32(img + 32, (uint32_t)size);
    _put32(img + 36, crc32c(0, img, 36));
    uint64_t pos = VLOG_DATA, limit = size - VLOG_TRAILER;
    while (pos + VLOG_REC_HEADER <= limit) {
        uint8_t *r = img + pos;
        uint32_t len = _get32(r + 4), vlen = _get32(r + 20);
        uint16_t klen = _get16(r + 16);
        if (len < VLOG_REC_HEADER || len % 8 || pos + len > limit ||
            (size_t)VLOG_REC_HEADER + klen > len)
            break;
        if (r[18] == VLOG_PUT && vlen >= DISKVAL_HEADER &&
            (uint64_t)VLOG_REC_HEADER + klen + vlen <= len) {
            uint8_t *v = r + VLOG_REC_HEADER + klen;
            _put32(v + 36, vlen - DISKVAL_HEADER);
            _put32(v + 4, crc32c(crc32c(0, v, 4), v + 8, vlen - 8));
        }
        _put32(r, crc32c(crc32c(0, r + 4, 20), r + VLOG_REC_HEADER, klen));
        pos += len;
    }
    uint8_t *t = img + size - VLOG_TRAILER;
    uint32_t foff = _get32(t + 4), flen = _get32(t + 8);
    if (foff >= VLOG_DATA && (uint64_t)foff + flen <= limit)
        _put32(t + 12, crc32c(0, img + foff, flen));
    _put32(t + 16, crc32c(0, t, 16));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int memfd = -1;
    if (memfd < 0 && (memfd = memfd_create("fuzz_vlog_segment", MFD_CLOEXEC)) < 0)
        return 0;
    size_t body = len > VLOG_HEADER ? len - VLOG_HEADER : 0;
    size_t size = VLOG_DATA + body;
    if (size > IMAGE_MAX)
        return 0;
    /* room for the fixed pass: a multiple of 8, at least a segment */
    size_t fixed = (size + 7) & ~(size_t)7;
    if (fixed < VLOG_SIZE_MIN)
        fixed = VLOG_SIZE_MIN;
    uint8_t *img = calloc(1, fixed);
    if (!img)
        return 0;
    memcpy(img, data, len < VLOG_HEADER ? len : VLOG_HEADER);
    if (body)
        memcpy(img + VLOG_DATA, data + VLOG_HEADER, body);
    _run(memfd, img, size);
    _fix(img, fixed);
    _run(memfd, img, fixed);
    free(img);
    return 0;
}
