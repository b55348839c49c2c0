/* Writes tests/fuzz/corpus/vlog_segment/ with segments made by vlog.c itself, in
 * fuzz_vlog_segment's input form (the header's 40 bytes, then the file from offset 4096):
 * sealed with records of every kind, sealed empty, unsealed, and unsealed with a torn last
 * record. Not run by the tests:
 *   ninja -C build tests/fuzz/gen_vlog && build/tests/fuzz/gen_vlog tests/fuzz/corpus/vlog_segment */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diskval.h"
#include "vlog.h"

static char tmpdir[] = "/tmp/gen_vlog.XXXXXX";
static char err[512];

/* A segment of VLOG_SIZE_MIN bytes with n records (of the fixed set below), sealed or not;
 * torn: the last record's second half zeroed. */
static int _make(const char *dir, const char *name, int n, int seal, int torn)
{
    static uint8_t text[600];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (uint8_t)"the quick brown fox jumps over the lazy dog "[i % 44];
    struct diskval v1 = {.type = 4, .version = 7, .hlc = 1, .data = text, .len = 30};
    struct diskval v2 = {.type = 4, .expire_ms = 4102444800000ull, .version = 8, .data = text,
                         .len = sizeof(text)};
    struct diskval_opts o = {.zstd_level = 3, .compress_threshold = 64};
    uint8_t *e1, *e2;
    size_t l1, l2;
    bool comp;
    if (diskval_encode(&v1, &o, &e1, &l1, &comp) || diskval_encode(&v2, &o, &e2, &l2, &comp))
        return -1;
    struct vlog_rec recs[] = {
        {.kind = VLOG_PUT, .hash = 0x1111, .key = (const uint8_t *)"\x00" "a", .klen = 2,
         .val = e1, .vlen = (uint32_t)l1},
        {.kind = VLOG_PUT, .flags = VLOG_F_STREAM_HEAD, .hash = 0x2222,
         .key = (const uint8_t *)"\x02" "nsb", .klen = 4, .val = e2, .vlen = (uint32_t)l2},
        {.kind = VLOG_DEL, .hash = 0x1111, .key = (const uint8_t *)"\x00" "a", .klen = 2},
        {.kind = VLOG_NSFLUSH, .hash = 0, .key = (const uint8_t *)"ns", .klen = 2},
        {.kind = VLOG_NSFLUSH, .hash = 0, .key = NULL, .klen = 0},
    };
    char path[4096];
    snprintf(path, sizeof(path), "%s/seg-%016x.vlog", tmpdir, 1);
    unlink(path);
    struct vlog_seg *s;
    if (vlog_create(path, 1, 0, VLOG_SIZE_MIN, 1700000000000ull, &s, err, sizeof(err)))
        goto bad;
    static uint8_t buf[8192];
    struct vlog_buf b = {.data = buf, .cap = sizeof(buf)};
    uint32_t off = 0, len = 0;
    for (int i = 0; i < n; i++)
        if (vlog_buf_add(s, &b, &recs[i % 5], &off, &len, err, sizeof(err)))
            goto bad;
    if (vlog_buf_write(s, &b, err, sizeof(err)) || (seal && vlog_seal(s, err, sizeof(err))))
        goto bad;
    if (torn && n) {
        static const uint8_t zeros[4096];
        if (pwrite(s->fd, zeros, len / 2, off + len / 2) != (ssize_t)(len / 2))
            goto bad;
    }
    static uint8_t img[VLOG_SIZE_MIN];
    if (pread(s->fd, img, sizeof(img), 0) != (ssize_t)sizeof(img))
        goto bad;
    vlog_close(s);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(img, 1, VLOG_HEADER, f) != VLOG_HEADER ||
        fwrite(img + VLOG_DATA, 1, sizeof(img) - VLOG_DATA, f) != sizeof(img) - VLOG_DATA ||
        fclose(f) != 0) {
        perror(path);
        return -1;
    }
    printf("%s\n", path);
    free(e1);
    free(e2);
    return 0;
bad:
    fprintf(stderr, "gen_vlog: %s\n", err);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_vlog DIR\n");
        return 2;
    }
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    int rc = _make(argv[1], "sealed", 5, 1, 0) || _make(argv[1], "sealed_empty", 0, 1, 0) ||
             _make(argv[1], "sealed_many", 40, 1, 0) || _make(argv[1], "unsealed", 5, 0, 0) ||
             _make(argv[1], "torn", 4, 0, 1) || _make(argv[1], "torn_first", 1, 0, 1);
    rmdir(tmpdir);
    return rc;
}
